// What the status bar item says, from the server's last `latent/status` and the user's switches. Pure, so it is
// tested without VS Code; statusBar.ts only copies the result onto the item.

import type { StatusParams } from '../server/protocol';

export type ClientState = 'starting' | 'running' | 'stopped' | 'failed';

export interface StatusInput {
  client: ClientState;
  /** The server's last report; undefined until the first one. */
  status?: StatusParams;
  enabled: boolean;
  /** The active editor's language and whether completions are on for it (undefined: no editor). */
  languageId?: string;
  languageEnabled?: boolean;
  /** Restricted (untrusted) workspace: the workspace's engine settings are ignored. */
  restricted?: boolean;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** Which background to use: warning for a stopped or off state, error for a failure. */
  severity: 'normal' | 'warning' | 'error';
}

const ENGINE_STATES = new Set(['starting', 'loading', 'ready', 'restarting', 'error', 'stopped']);

export function formatStatus(input: StatusInput): StatusView {
  const metrics = formatMetrics(input.status);
  const lines: string[] = [];
  let text: string;
  let severity: StatusView['severity'] = 'normal';
  const engine = input.status && ENGINE_STATES.has(input.status.engine) ? input.status.engine : undefined;
  const message = cleanMessage(input.status?.message);

  if (input.client === 'failed') {
    text = '$(error) Latent';
    severity = 'error';
    lines.push('The Latent Coder server failed to start. Click for the log.');
  } else if (input.client === 'stopped') {
    text = '$(debug-stop) Latent';
    severity = 'warning';
    lines.push('The Latent Coder server is stopped.');
  } else if (input.client === 'starting' || engine === undefined || engine === 'starting') {
    text = '$(loading~spin) Latent';
    lines.push('Starting the engine...');
  } else if (engine === 'loading') {
    const progress = formatProgress(input.status?.progress);
    text = `$(loading~spin) Latent${progress ? ` ${progress}` : ''}`;
    lines.push(`Loading the model${progress ? ` (${progress})` : ''}...`);
  } else if (engine === 'restarting') {
    text = '$(loading~spin) Latent';
    lines.push('Restarting the engine...');
  } else if (engine === 'error') {
    text = '$(error) Latent';
    severity = 'error';
    lines.push('The engine reported an error.');
  } else if (engine === 'stopped') {
    text = '$(debug-stop) Latent';
    severity = 'warning';
    lines.push('The engine is stopped.');
  } else if (!input.enabled) {
    text = '$(circle-slash) Latent';
    severity = 'warning';
    lines.push('Inline completions are off.');
  } else if (input.languageId !== undefined && input.languageEnabled === false) {
    text = '$(circle-slash) Latent';
    lines.push(`Inline completions are off for ${input.languageId}.`);
  } else {
    text = ['$(sparkle) Latent', ...metrics.short].join(' · ');
    lines.push('Ready.');
  }
  if (message) lines.push(message);
  lines.push(...metrics.long);
  if (input.restricted) lines.push('Restricted mode: the workspace\'s engine settings are ignored.');
  lines.push('Click for the menu.');
  return { text, tooltip: lines.join('\n'), severity };
}

/** The numbers of the last completion, short (status bar) and long (tooltip); missing or nonsense values left out. */
export function formatMetrics(status: StatusParams | undefined): { short: string[]; long: string[] } {
  const short: string[] = [];
  const long: string[] = [];
  const latency = finite(status?.lastLatencyMs, 0);
  if (latency !== undefined) {
    const shown = latency < 1000 ? `${Math.round(latency)} ms` : `${(latency / 1000).toFixed(1)} s`;
    short.push(shown);
    long.push(`Last completion: ${shown}`);
  }
  const prepare = finite(status?.lastPrepareMs, 0);
  if (prepare !== undefined) long.push(`Prompt built in ${Math.round(prepare)} ms`);
  const share = finite(status?.cachedShare, 0, 1);
  if (share !== undefined) {
    const shown = `${Math.round(share * 100)}%`;
    short.push(`${shown} cached`);
    long.push(`Prompt served from the latent cache: ${shown}`);
  }
  const speed = finite(status?.tokensPerSecond, 0);
  if (speed !== undefined) {
    const shown = speed < 10 ? speed.toFixed(1) : String(Math.round(speed));
    short.push(`${shown} tok/s`);
    long.push(`Generation: ${shown} tokens/s`);
  }
  return { short, long };
}

function formatProgress(progress: unknown): string | undefined {
  const value = finite(progress, 0, 1);
  return value === undefined ? undefined : `${Math.floor(value * 100)}%`;
}

function finite(value: unknown, min: number, max = Infinity): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max ? value : undefined;
}

/** The server's message, as one short plain line (it is shown in a tooltip that renders codicons). */
function cleanMessage(message: unknown): string | undefined {
  if (typeof message !== 'string') return undefined;
  const line = message.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\$\(/g, '$\u200b(').trim();
  if (!line) return undefined;
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}
