// The bundled engine (dist/engine.js, what the .vsix ships) run from a folder with only the files the .vsix carries
// for it, so nothing resolves through the repository's node_modules: it must load Dawn from dist/node_modules/webgpu
// (import('webgpu') is left to run time by the bundler), probe the adapter through dist/webgpu/gpuDevice.js, and
// generate on the GPU the CPU's greedy tokens.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { skipWithoutWebgpu } from '../engine/webgpuAdapter';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DIST = path.join(ROOT, 'dist');
const MODEL = path.join('models', 'latent-coder-tiny');

describe('bundled engine (dist/engine.js) with Dawn', function () {
  this.timeout(300_000);
  let dir: string;

  before(async function () {
    if (!fs.existsSync(path.join(DIST, 'engine.js'))) this.skip(); // npm run bundle (part of npm run build) makes it
    await skipWithoutWebgpu(this);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-bundled-engine-'));
    for (const file of ['engine.js', 'kernelWorker.js', 'tokenizerWorker.js', 'latent_kernels.node', 'webgpu', path.join('node_modules', 'webgpu')]) {
      if (fs.existsSync(path.join(DIST, file))) fs.cpSync(path.join(DIST, file), path.join(dir, 'dist', file), { recursive: true, filter: (src) => !src.endsWith('.map') });
    }
    for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) fs.cpSync(path.join(ROOT, MODEL, file), path.join(dir, MODEL, file));
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const engine = (...args: string[]) => execFileSync(process.execPath, [path.join(dir, 'dist', 'engine.js'), ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('finds the WebGPU adapter through the bundled Dawn', () => {
    const adapter = /^webgpu adapter: (.+)$/m.exec(engine('info'))?.[1];
    assert.ok(adapter && !adapter.startsWith('none'), `webgpu adapter: ${adapter}`);
  });

  it('generates on webgpu the CPU\'s greedy tokens for a code prompt', () => {
    const run = (backend: string) => JSON.parse(engine('generate', '--backend', backend, '--prompt', 'def add(a, b):\n', '--max-tokens', '8').trim().split('\n').pop()!);
    const gpu = run('webgpu');
    assert.equal(gpu.tokens.length, 8);
    assert.deepEqual(gpu.tokens, run('cpu').tokens);
  });
});
