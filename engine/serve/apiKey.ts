// Where the server's bearer key comes from: --api-key-file, else LATENT_API_KEY, else a key generated once into a
// 0600 file in the user's cache directory (so that local clients of the same user can read it, and no one else).
// Every key file obeys the same rules: readable by its owner alone (a link is judged by the file it names), one
// line of at least 16 characters, a trailing newline allowed.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultApiKeyFile } from '../../engineLink/localEngineFacts';

export interface ApiKeySource {
  key: string;
  /** Where it came from, printed at start: a file path or the environment variable's name. */
  origin: string;
}

const MIN_KEY_LENGTH = 16;

/** Reads a key file, refusing one other users can read or one no client could send as a single bearer token. */
export function readKeyFile(file: string): string {
  let text: string;
  try {
    // A key file others can read is no secret: refuse it rather than serve with it. stat follows links.
    const mode = fs.statSync(file).mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new Error(`API key file ${file} is readable by other users or writable by them (mode ` +
        `${mode.toString(8).padStart(4, '0')}); chmod 600 it`);
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!code) throw e;
    throw new Error(`cannot read the API key file ${file} (${code})`);
  }
  const key = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(key)) {
    throw new Error(`API key file ${file} holds more than one line; it must hold the key alone on one line`);
  }
  return checkKey(key.trim(), `API key file ${file}`);
}

function checkKey(key: string, where: string): string {
  if (key.length < MIN_KEY_LENGTH) throw new Error(`${where} must hold a key of at least ${MIN_KEY_LENGTH} characters`);
  // A bearer token is one HTTP header value: anything else no client could send.
  if (!/^[\x21-\x7e]+$/.test(key)) throw new Error(`${where} holds spaces or characters a bearer token cannot carry`);
  return key;
}

export function resolveApiKey(apiKeyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): ApiKeySource {
  if (apiKeyFile) return { key: readKeyFile(apiKeyFile), origin: apiKeyFile };
  const fromEnv = env.LATENT_API_KEY?.trim();
  if (fromEnv) return { key: checkKey(fromEnv, 'LATENT_API_KEY'), origin: 'LATENT_API_KEY' };
  const file = defaultApiKeyFile(env);
  if (fs.existsSync(file)) return { key: readKeyFile(file), origin: file };
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
