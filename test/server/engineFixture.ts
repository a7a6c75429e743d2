// Test helper: a real `latent serve` over a small random model folder with a tokenizer (made with `latent
// init-random` from the shared fixture config and a copy of the shared DeepSeek tokenizer with FIM and chat tokens
// and a chat template added). $LATENT_BIN may point at another checkout's bin/latent.js.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES_DIR, TOKENIZERS_DIR } from '../sharedDir';

const execFileAsync = promisify(execFile);
export const LATENT_BIN = process.env.LATENT_BIN ?? path.resolve(__dirname, '..', '..', '..', 'bin', 'latent.js');

const CHAT_TEMPLATE = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}" +
  "{{ message['content'] + '\\n\\n' }}{% elif message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}" +
  "{% elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' + message['content'] + eos_token }}{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";
const SPECIAL_TOKENS = ['<｜fim▁begin｜>', '<｜fim▁hole｜>', '<｜fim▁end｜>', '<｜User｜>', '<｜Assistant｜>'];

/** Why the engine cannot be used here (its CLI lacks `serve` or `init-random`), or undefined when it can. */
export async function engineMissing(): Promise<string | undefined> {
  if (!fs.existsSync(LATENT_BIN)) return `${LATENT_BIN} does not exist`;
  try {
    const { stdout } = await execFileAsync(process.execPath, [LATENT_BIN, '--help']);
    const missing = ['serve', 'init-random'].filter((c) => !new RegExp(`latent ${c}\\b`).test(stdout));
    return missing.length ? `the latent CLI has no ${missing.join(' or ')} command yet` : undefined;
  } catch (e) {
    return `latent --help failed: ${(e as Error).message}`;
  }
}

/**
 * A model folder under `root` with random weights of the shared lite config (with `configChanges`) and a tokenizer
 * with FIM tokens.
 */
export async function makeTestModel(root: string, name = `tiny-coder-${process.pid}`, configChanges: Record<string, unknown> = {}): Promise<string> {
  const tokenizerDir = path.join(root, 'tokenizer');
  fs.mkdirSync(tokenizerDir, { recursive: true });
  const tokenizer = JSON.parse(fs.readFileSync(path.join(TOKENIZERS_DIR, 'deepseek-llm', 'tokenizer.json'), 'utf8'));
  let next = Math.max(...tokenizer.added_tokens.map((t: { id: number }) => t.id)) + 1;
  for (const content of SPECIAL_TOKENS) {
    tokenizer.added_tokens.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  const config = JSON.parse(fs.readFileSync(path.join(TOKENIZERS_DIR, 'deepseek-llm', 'tokenizer_config.json'), 'utf8'));
  config.chat_template = CHAT_TEMPLATE;
  fs.writeFileSync(path.join(tokenizerDir, 'tokenizer.json'), JSON.stringify(tokenizer));
  fs.writeFileSync(path.join(tokenizerDir, 'tokenizer_config.json'), JSON.stringify(config));
  const model = path.join(root, name);
  const modelConfig = path.join(root, `${name}-config.json`);
  fs.writeFileSync(modelConfig, JSON.stringify({
    ...JSON.parse(fs.readFileSync(path.join(FIXTURES_DIR, 'lite', 'config.json'), 'utf8')), ...configChanges,
  }));
  await execFileAsync(process.execPath, [LATENT_BIN, 'init-random', '--config', modelConfig,
    '--tokenizer', tokenizerDir, '--out', model], { maxBuffer: 16 * 1024 * 1024 });
  return model;
}

export interface ServeProcess { url: string; apiKey: string; child: ChildProcess; stop(): Promise<void> }

/** `latent serve` on a free loopback port with its own key file; resolves once it listens. */
export async function startServe(model: string, root: string, extraArgs: string[] = []): Promise<ServeProcess> {
  const keyFile = path.join(root, 'serve-key');
  const apiKey = `lsp-test-key-${Math.random().toString(36).slice(2)}`;
  fs.writeFileSync(keyFile, apiKey, { mode: 0o600 });
  const child = spawn(process.execPath, [LATENT_BIN, 'serve', '--model', model, '--host', '127.0.0.1', '--port', '0', '--api-key-file', keyFile, ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => { output += d; });
  child.stderr!.on('data', (d) => { output += d; });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGTERM'); reject(new Error(`latent serve did not start:\n${output}`)); }, 120_000);
    child.stdout!.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`latent serve exited with ${code}:\n${output}`)); });
  });
  return {
    url, apiKey, child,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
