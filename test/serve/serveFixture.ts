// A real `latent serve` child process on a loopback port, over a small random model folder made by
// `latent init-random` with the shared DeepSeek tokenizer (optionally with FIM and chat tokens and a chat
// template added to a private copy, since the shared vocabulary has neither).
import { ChildProcess, execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES_DIR, TOKENIZERS_DIR } from '../sharedDir';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const LATENT_BIN = path.join(REPO_ROOT, 'bin', 'latent.js');
const execFileAsync = promisify(execFile);

/** DeepSeek-V2's chat layout (V2.5 style), written as a Hugging Face chat template. */
export const TEST_CHAT_TEMPLATE = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}" +
  "{{ message['content'] + '\\n\\n' }}{% elif message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}" +
  "{% elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + eos_token }}{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";

export const ADDED_SPECIAL_TOKENS = ['<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>', '<｜User｜>', '<｜Assistant｜>'];

export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A copy of the shared tokenizer with the FIM and chat special tokens and a chat template added. */
export function writeTokenizerWithSpecials(dir: string): string {
  const tokenizer = JSON.parse(fs.readFileSync(path.join(TOKENIZERS_DIR, 'deepseek-llm', 'tokenizer.json'), 'utf8'));
  let next = Math.max(...tokenizer.added_tokens.map((t: { id: number }) => t.id)) + 1;
  for (const content of ADDED_SPECIAL_TOKENS) {
    tokenizer.added_tokens.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false,
      normalized: false, special: true });
  }
  const config = JSON.parse(fs.readFileSync(path.join(TOKENIZERS_DIR, 'deepseek-llm', 'tokenizer_config.json'), 'utf8'));
  config.chat_template = TEST_CHAT_TEMPLATE;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 1));
  return dir;
}

/** Runs the real CLI; resolves with its stdout. */
export async function latent(args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [LATENT_BIN, ...args], { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/** `latent generate`'s answer for the same request, as the oracle for the server. */
export async function latentGenerate(model: string, prompt: { text: string } | { tokens: number[] }, maxTokens: number,
  extra: string[] = []): Promise<{ tokens: number[]; text: string }> {
  const promptArgs = 'text' in prompt ? ['--prompt', prompt.text] : ['--tokens', prompt.tokens.join(',')];
  const out = await latent(['generate', '--model', model, ...promptArgs, '--max-tokens', String(maxTokens),
    '--temperature', '0', ...extra]);
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** A small random model folder; `specials` adds FIM/chat tokens and a chat template to its tokenizer. */
export async function makeModelFolder(root: string, specials: boolean): Promise<string> {
  const tokenizerDir = specials ? writeTokenizerWithSpecials(path.join(root, 'tokenizer'))
    : path.join(TOKENIZERS_DIR, 'deepseek-llm');
  const model = path.join(root, specials ? 'tiny-coder' : 'tiny-plain');
  // The lite fixture's shapes; init-random widens the vocabulary to the tokenizer's and takes its bos/eos.
  await latent(['init-random', '--config', path.join(FIXTURES_DIR, 'lite', 'config.json'), '--out', model,
    '--tokenizer', tokenizerDir, '--seed', '7']);
  return model;
}

export interface ServeProcess {
  url: string;
  /** The bearer key ('' when the server chose it). */
  key: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `latent serve` on a free loopback port with its own key file, and waits until it listens. */
export async function startServe(model: string, extraArgs: string[] = []): Promise<ServeProcess> {
  const keyDir = makeTempDir('latent-serve-key-');
  const keyFile = path.join(keyDir, 'api-key');
  const key = `test-key-${Math.random().toString(36).slice(2)}-0123456789`;
  fs.writeFileSync(keyFile, key, { mode: 0o600 });
  try {
    const serve = await startServeWith(model, ['--api-key-file', keyFile, ...extraArgs], process.env, key);
    const stop = serve.stop;
    serve.stop = () => stop().finally(() => fs.rmSync(keyDir, { recursive: true, force: true }));
    return serve;
  } catch (e) {
    fs.rmSync(keyDir, { recursive: true, force: true });
    throw e;
  }
}

/** Starts `latent serve` with exactly these arguments and environment; rejects with its output if it exits. */
export async function startServeWith(model: string, args: string[], env: NodeJS.ProcessEnv, key = ''): Promise<ServeProcess> {
  const child = spawn(process.execPath, [LATENT_BIN, 'serve', '--model', model, '--port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  child.stdout!.on('data', (d) => { output += d; });
  child.stderr!.on('data', (d) => { output += d; });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`latent serve did not start:\n${output}`));
    }, 60_000);
    const onData = (): void => {
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`latent serve exited with ${code}:\n${output}`));
    });
  });
  return {
    url,
    key,
    child,
    output: () => output,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** One HTTP request with the key (unless headers override it); returns status, headers and body text. */
export async function call(serve: ServeProcess, method: string, route: string, body?: unknown,
  headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(serve.url + route, {
    method,
    headers: { Authorization: `Bearer ${serve.key}`, 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The events of an SSE body, `[DONE]` included as the string. */
export function sseEvents(text: string): (any | '[DONE]')[] {
  return text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => {
    const data = e.slice('data: '.length);
    return data === '[DONE]' ? data : JSON.parse(data);
  });
}

/** A metric's value from Prometheus text (the sum over label sets matching `labels`). */
export function metricValue(metricsText: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of metricsText.split('\n')) {
    const m = /^([a-z_:]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
