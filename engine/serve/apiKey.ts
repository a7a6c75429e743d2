// Where the server's bearer key comes from: --api-key-file, else LATENT_API_KEY, else a key generated once into a
// 0600 file in the user's cache directory (so that local clients of the same user can read it, and no one else).
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface ApiKeySource {
  key: string;
  /** Where it came from, printed at start: a file path or the environment variable's name. */
  origin: string;
}

/** The user's cache directory, as XDG (Linux), macOS and Windows define it. */
export function userCacheDir(): string {
  if (process.env.XDG_CACHE_HOME) return process.env.XDG_CACHE_HOME;
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Caches');
  if (process.platform === 'win32') return process.env.LOCALAPPDATA ?? path.join(os.homedir(), 'AppData', 'Local');
  return path.join(os.homedir(), '.cache');
}

export function defaultApiKeyFile(): string {
  return path.join(userCacheDir(), 'latent-coder', 'api-key');
}

function readKeyFile(file: string): string {
  let key: string;
  try {
    key = fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new Error(`cannot read the API key file ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (key.length < 16) throw new Error(`API key file ${file} must hold a key of at least 16 characters`);
  return key;
}

export function resolveApiKey(apiKeyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): ApiKeySource {
  if (apiKeyFile) return { key: readKeyFile(apiKeyFile), origin: apiKeyFile };
  const fromEnv = env.LATENT_API_KEY?.trim();
  if (fromEnv) {
    if (fromEnv.length < 16) throw new Error('LATENT_API_KEY must be at least 16 characters');
    return { key: fromEnv, origin: 'LATENT_API_KEY' };
  }
  const file = defaultApiKeyFile();
  if (fs.existsSync(file)) {
    // A key file others can read is no secret: refuse it rather than serve with it.
    if (process.platform !== 'win32' && (fs.statSync(file).mode & 0o077) !== 0) {
      throw new Error(`API key file ${file} is readable by other users; chmod 600 it or delete it`);
    }
    return { key: readKeyFile(file), origin: file };
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = `latent-${randomBytes(24).toString('base64url')}`;
  // 'wx': never overwrite a key another server generated a moment ago.
  try {
    fs.writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return { key: readKeyFile(file), origin: file };
    throw e;
  }
  return { key, origin: file };
}
