// `latent init-random` end to end through bin/latent.js, and the CLI's one-line error with exit code 2 for bad
// arguments, malformed configs and broken model folders.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TOKENIZERS_DIR } from '../sharedDir';
import { fixtureDir } from './fixtureModel';
import { editHeader, fixtureConfig, LATENT, ScratchDirs } from './randomCheckpointHelpers';

function latent(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [LATENT, ...args], { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function assertOneLineError(r: ReturnType<typeof latent>, ...parts: (string | RegExp)[]): void {
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /^latent: /);
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(r.stderr.includes(p), `"${r.stderr.trim()}" should name ${p}`);
    else assert.match(r.stderr, p);
  }
}

describe('latent init-random', function () {
  const scratch = new ScratchDirs();
  after(() => scratch.removeAll());
  const liteConfig = path.join(fixtureDir('lite'), 'config.json');

  it('writes a folder that `latent logits` loads, and prints a JSON summary', async () => {
    const out = scratch.fresh('cli');
    const r = latent(['init-random', '--config', liteConfig, '--out', out, '--seed', '9', '--dtype', 'f16']);
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.deepEqual(summary.files, ['model.safetensors', 'config.json']);
    assert.equal(summary.dtype, 'f16');
    assert.equal(summary.seed, 9);
    assert.equal(summary.parameters, 265248); // the lite fixture's count (fixtures/README.md)
    assert.equal(summary.bytes, 265248 * 2);
    const logits = JSON.parse(latent(['logits', '--model', out, '--tokens', '0,5,7', '--positions', 'all']).stdout);
    assert.equal(logits.logits.length, 3);
    assert.ok(logits.logits.flat().every(Number.isFinite));
  });

  it('shards with --shard-size, and the same seed gives the same logits', async () => {
    const whole = scratch.fresh('whole');
    const sharded = scratch.fresh('sharded');
    assert.equal(latent(['init-random', '--config', liteConfig, '--out', whole, '--seed', '4', '--dtype', 'bf16']).status, 0);
    const r = latent(['init-random', '--config', liteConfig, '--out', sharded, '--seed', '4', '--dtype', 'bf16', '--shard-size', '0.2MB']);
    assert.equal(r.status, 0, r.stderr);
    const files: string[] = JSON.parse(r.stdout).files;
    assert.ok(files.includes('model.safetensors.index.json') && files.includes('model-00001-of-00003.safetensors'), files.join(' '));
    const logits = (dir: string) => latent(['logits', '--model', dir, '--tokens', '0,9,8,7', '--positions', 'all']).stdout;
    assert.equal(logits(sharded), logits(whole));
  });

  it('copies a tokenizer and says how it fitted the config to it', async () => {
    const out = scratch.fresh('tok');
    const r = latent(['init-random', '--config', liteConfig, '--out', out, '--dtype', 'bf16', '--tokenizer', path.join(TOKENIZERS_DIR, 'deepseek-llm')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /raised vocab_size from 512 to 100015/);
    assert.equal(JSON.parse(r.stdout).vocab_size, 100015);
    const gen = latent(['generate', '--model', out, '--prompt', 'def main():', '--max-tokens', '3']);
    assert.equal(gen.status, 0, gen.stderr);
    assert.equal(JSON.parse(gen.stdout).tokens.length, 3);
  });

  describe('errors: one line on stderr, exit code 2', () => {
    let badConfig: string;
    before(async () => {
      badConfig = path.join(scratch.fresh('bad-config'));
      fs.mkdirSync(badConfig);
      fs.writeFileSync(path.join(badConfig, 'config.json'), JSON.stringify({ ...fixtureConfig('full'), num_experts_per_tok: 17 }));
    });

    for (const [what, args, ...parts] of [
      ['no --config', ['--out', '/tmp/x'], /--config is required/],
      ['no --out', ['--config', '/nonexistent.json'], /--out is required/],
      ['an unknown dtype', ['--config', '/nonexistent.json', '--out', '/tmp/x', '--dtype', 'f8'], /--dtype must be one of f32, f16, bf16/],
      ['a bad seed', ['--config', '/nonexistent.json', '--out', '/tmp/x', '--seed', '1.5'], /--seed must be/],
      ['a bad shard size', ['--config', '/nonexistent.json', '--out', '/tmp/x', '--shard-size', '2 parsecs'], /--shard-size must be/],
      ['an unknown option', ['--config', '/nonexistent.json', '--out', '/tmp/x', '--frobnicate'], /Unknown option/],
      ['a missing config file', ['--config', '/nonexistent/config.json', '--out', '/tmp/x'], '/nonexistent/config.json', /not found/],
    ] as const) {
      it(`rejects ${what}`, () => assertOneLineError(latent(['init-random', ...args]), ...parts));
    }

    it('rejects a contradictory config, naming the file and key', async () => {
      const file = path.join(badConfig, 'config.json');
      const out = scratch.fresh('never');
      assertOneLineError(latent(['init-random', '--config', file, '--out', out]), file, '"num_experts_per_tok"');
      assert.ok(!fs.existsSync(out));
    });

    it('rejects a folder that is not empty', async () => {
      const out = scratch.fresh('busy');
      fs.mkdirSync(out);
      fs.writeFileSync(path.join(out, 'keep.txt'), '');
      assertOneLineError(latent(['init-random', '--config', liteConfig, '--out', out]), out, /not empty/);
    });

    it('loading a malformed config names the file and key', async () => {
      assertOneLineError(latent(['logits', '--model', badConfig, '--tokens', '0,1']), path.join(badConfig, 'config.json'), '"num_experts_per_tok"');
    });

    it('loading a truncated checkpoint names the file and tensor', async () => {
      const dir = scratch.fresh('truncated');
      assert.equal(latent(['init-random', '--config', liteConfig, '--out', dir]).status, 0);
      const file = path.join(dir, 'model.safetensors');
      fs.truncateSync(file, fs.statSync(file).size - 8);
      assertOneLineError(latent(['logits', '--model', dir, '--tokens', '0,1']), file, '"model.norm.weight"', /truncated/);
    });

    it('loading a tensor of the wrong shape names the file and tensor', async () => {
      const dir = scratch.fresh('shape');
      assert.equal(latent(['init-random', '--config', liteConfig, '--out', dir]).status, 0);
      const file = path.join(dir, 'model.safetensors');
      editHeader(file, (h) => (h['model.embed_tokens.weight'].shape = [64, 512]));
      assertOneLineError(latent(['generate', '--model', dir, '--tokens', '0,1', '--max-tokens', '2']), file, '"model.embed_tokens.weight"', /config\.json implies \[512,64\]/);
    });

    it('loading an unsupported dtype names the file and tensor', async () => {
      const dir = scratch.fresh('dtype');
      assert.equal(latent(['init-random', '--config', liteConfig, '--out', dir]).status, 0);
      const file = path.join(dir, 'model.safetensors');
      editHeader(file, (h) => (h['model.norm.weight'].dtype = 'F64'));
      assertOneLineError(latent(['logits', '--model', dir, '--tokens', '0,1']), file, '"model.norm.weight"', /"F64" is not supported/);
    });

    it('loading with a missing shard names the shard', async () => {
      const dir = scratch.fresh('missing-shard');
      assert.equal(latent(['init-random', '--config', liteConfig, '--out', dir, '--shard-size', '300000']).status, 0);
      const shard = path.join(dir, 'model-00002-of-00004.safetensors');
      fs.rmSync(shard);
      assertOneLineError(latent(['logits', '--model', dir, '--tokens', '0,1']), shard, /missing/);
    });
  });
});
