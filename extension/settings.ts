// The user's settings, read and checked once, in the shape the server takes (`LatentSettings`) plus what only the
// extension needs (the on/off switches). Pure: the caller passes a reader, so tests need no VS Code.

import type { EngineSettings, LatentSettings } from '../server/protocol';

export const SECTION = 'latent';

export interface ExtensionSettings {
  /** The global switch for inline completions. */
  enabled: boolean;
  /** Language id -> on/off; '*' is the default for languages not listed. */
  languages: Record<string, boolean>;
  /** What the server gets (initializationOptions and workspace/didChangeConfiguration). */
  server: LatentSettings;
  /** One sentence per setting that was ignored, naming the setting. */
  problems: string[];
}

/** Reads one setting below `latent.` (e.g. 'engine.url'); undefined when unset. */
export type SettingReader = (key: string) => unknown;

export const DEFAULTS = {
  maxTokens: 128,
  debounceMs: 75,
  maxPromptTokens: 2048,
  languages: { '*': true, plaintext: false, markdown: false, scminput: false } as Record<string, boolean>,
};

const LANGUAGE_ID = /^(\*|[A-Za-z0-9][\w.+#-]{0,63})$/;
const BACKENDS = ['auto', 'cpu', 'webgpu'];
/** `latent serve --reuse-policy`: exact, or reuse:K[:D] (empty: the engine's default). */
const REUSE_POLICY = /^(|exact|reuse:\d{1,4}(:\d{1,3})?)$/;

export function readSettings(read: SettingReader, apiKey?: string): ExtensionSettings {
  const problems: string[] = [];
  const enabled = readBoolean(read, 'enable', true, problems);
  const languages = readLanguages(read('languages'), problems);
  const engine = readEngine(read, apiKey, problems);
  const maxTokens = readInteger(read, 'maxTokens', DEFAULTS.maxTokens, 1, 4096, problems);
  const debounceMs = readInteger(read, 'debounceMs', DEFAULTS.debounceMs, 0, 2000, problems);
  const maxPromptTokens = readInteger(read, 'maxPromptTokens', DEFAULTS.maxPromptTokens, 256, 131072, problems);
  const disabledLanguages = Object.keys(languages).filter((id) => id !== '*' && !languages[id]).sort();
  return { enabled, languages, server: { engine, maxTokens, debounceMs, maxPromptTokens, disabledLanguages }, problems };
}

/** Whether inline completions are on for a language under these settings. */
export function isLanguageEnabled(settings: Pick<ExtensionSettings, 'enabled' | 'languages'>, languageId: string): boolean {
  if (!settings.enabled) return false;
  const own = Object.prototype.hasOwnProperty.call(settings.languages, languageId) ? settings.languages[languageId] : undefined;
  return own ?? settings.languages['*'] ?? true;
}

/** The `latent.languages` value after toggling one language (what the menu writes back). */
export function toggledLanguages(languages: Record<string, boolean>, languageId: string): Record<string, boolean> {
  const current = isLanguageEnabled({ enabled: true, languages }, languageId);
  return { ...languages, [languageId]: !current };
}

function readEngine(read: SettingReader, apiKey: string | undefined, problems: string[]): EngineSettings {
  const mode = read('engine.mode') ?? 'local';
  if (mode !== 'local' && mode !== 'remote') problems.push(`latent.engine.mode must be "local" or "remote", not ${show(mode)}; using local.`);
  if (mode === 'remote') {
    const url = read('engine.url');
    const checked = typeof url === 'string' ? checkUrl(url) : undefined;
    if (checked) {
      const model = readString(read, 'engine.remoteModel', problems);
      const fim = read('engine.fim') ?? 'suffix';
      if (fim !== 'suffix' && fim !== 'prompt') problems.push(`latent.engine.fim must be "suffix" or "prompt", not ${show(fim)}; using suffix.`);
      return {
        url: checked,
        ...(apiKey ? { apiKey } : {}),
        ...(model ? { model } : {}),
        ...(fim === 'prompt' ? { fim: 'prompt' as const } : {}),
      };
    }
    problems.push(`latent.engine.url must be an http(s) URL when latent.engine.mode is "remote", not ${show(url)}; using the local engine.`);
  }
  const model = readString(read, 'engine.modelFolder', problems);
  const policy = read('engine.reusePolicy') ?? '';
  let reuse: { reusePolicy?: string } = {};
  if (typeof policy === 'string' && REUSE_POLICY.test(policy)) reuse = policy ? { reusePolicy: policy } : {};
  else problems.push(`latent.engine.reusePolicy must be exact or reuse:K[:D], not ${show(policy)}; using the engine's default.`);
  const backend = read('engine.backend') ?? 'auto';
  if (typeof backend !== 'string' || !BACKENDS.includes(backend)) {
    problems.push(`latent.engine.backend must be one of ${BACKENDS.join(', ')}, not ${show(backend)}; using auto.`);
    return { model, ...reuse };
  }
  // An empty model folder asks the server for the embedded default model.
  return backend === 'auto' ? { model, ...reuse } : { model, backend, ...reuse };
}

function checkUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password) return undefined; // credentials belong in the secret store, not in settings
  return url.toString().replace(/\/+$/, '');
}

function readLanguages(value: unknown, problems: string[]): Record<string, boolean> {
  if (value === undefined) return { ...DEFAULTS.languages };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`latent.languages must be an object of language id -> true/false, not ${show(value)}; using the default.`);
    return { ...DEFAULTS.languages };
  }
  // A null-prototype record, so ids such as "__proto__" or "constructor" are plain keys.
  const languages: Record<string, boolean> = Object.create(null);
  for (const [id, on] of Object.entries(value)) {
    if (!LANGUAGE_ID.test(id) || typeof on !== 'boolean') {
      problems.push(`latent.languages: ignored ${show(id)}: ${show(on)} (a language id and true/false).`);
      continue;
    }
    languages[id] = on;
  }
  return languages;
}

function readBoolean(read: SettingReader, key: string, fallback: boolean, problems: string[]): boolean {
  const value = read(key);
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  problems.push(`latent.${key} must be true or false, not ${show(value)}.`);
  return fallback;
}

function readInteger(read: SettingReader, key: string, fallback: number, min: number, max: number, problems: string[]): number {
  const value = read(key);
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  problems.push(`latent.${key} must be a whole number from ${min} to ${max}, not ${show(value)}; using ${fallback}.`);
  return fallback;
}

function readString(read: SettingReader, key: string, problems: string[]): string {
  const value = read(key);
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value.trim();
  problems.push(`latent.${key} must be a string, not ${show(value)}.`);
  return '';
}

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
