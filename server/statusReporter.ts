// Keeps what the status bar shows (engine state, last latency, cache share, tokens/s) and tells the client
// through `latent/status` whenever it changes.
import type { StatusParams } from './protocol';

export class StatusReporter {
  private status: StatusParams = { engine: 'stopped' };

  constructor(private readonly send: (status: StatusParams) => void) {}

  get current(): StatusParams { return { ...this.status }; }

  engineState(engine: StatusParams['engine'], message?: string): void {
    this.update({ engine, message });
  }

  /** After a completion: its latency, the share of its prompt the engine's cache served, its generation rate. */
  completionDone(update: Pick<StatusParams, 'lastLatencyMs' | 'cachedShare' | 'tokensPerSecond' | 'lastPrepareMs' | 'lastPromptTokens'>): void {
    this.update({ ...update, engine: this.status.engine === 'error' ? 'ready' : this.status.engine });
  }

  private update(change: Partial<StatusParams>): void {
    const next: StatusParams = { ...this.status, ...change };
    for (const key of Object.keys(next) as (keyof StatusParams)[]) if (next[key] === undefined) delete next[key];
    if (JSON.stringify(next) === JSON.stringify(this.status)) return;
    this.status = next;
    this.send({ ...next });
  }
}
