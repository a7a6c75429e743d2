// Facts the language server and `latent serve` must compute identically: the user's cache directory, where the
// generated API key lives, and the default port a hand-started daemon listens on.
import * as os from 'node:os';
import * as path from 'node:path';

/** "LATE" on a phone keypad: `latent serve` listens here by default, and the language server looks here first. */
export const DEFAULT_ENGINE_PORT = 5283;

/** The user's cache directory, as XDG (Linux), macOS and Windows define it. */
export function userCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_CACHE_HOME) return env.XDG_CACHE_HOME;
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches');
  if (process.platform === 'win32') return env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local');
  return path.join(os.homedir(), '.cache');
}

/** Latent Coder's own folder in it (0700): engine records, locks, the generated key. */
export function latentCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(userCacheDir(env), 'latent-coder');
}

/** The key `latent serve` generates when given none, and the language server hands to the engines it starts. */
export function defaultApiKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(latentCacheDir(env), 'api-key');
}
