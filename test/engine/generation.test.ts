// Generation pieces: sampling, stop strings, and the CLI's generate/logits against the fixtures.
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { Sampler } from '../../engine/generate/sampler';
import { StopMatcher } from '../../engine/generate/stopMatcher';
import { fixtureDir, loadExpected, maxAbsDiff } from './fixtureModel';

const LATENT = path.resolve(__dirname, '..', '..', '..', 'bin', 'latent.js');

function latent(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [LATENT, ...args], { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('sampling', () => {
  const logits = Float32Array.from([0.1, 2.0, 1.9, -1, 0.5]);

  it('is greedy at temperature 0', async () => {
    assert.equal(new Sampler({ temperature: 0, topP: 1, topK: 0 }).sample(logits), 1);
  });

  it('is reproducible with a seed and follows the distribution', async () => {
    const draw = (seed: number) => Array.from({ length: 200 }, ((s) => () => s.sample(logits))(new Sampler({ temperature: 1, topP: 1, topK: 0, seed })));
    assert.deepEqual(draw(7), draw(7));
    assert.notDeepEqual(draw(7), draw(8));
    const counts = [0, 0, 0, 0, 0];
    draw(3).forEach((t) => counts[t]++);
    assert.ok(counts[1] > counts[3] && counts[2] > counts[3], `counts ${counts}`);
  });

  it('top-k 2 only ever picks the two best tokens; tiny top-p picks the best', async () => {
    const k2 = new Sampler({ temperature: 5, topP: 1, topK: 2, seed: 1 });
    for (let i = 0; i < 100; i++) assert.ok([1, 2].includes(k2.sample(logits)));
    const p = new Sampler({ temperature: 1, topP: 0.01, topK: 0, seed: 1 });
    for (let i = 0; i < 20; i++) assert.equal(p.sample(logits), 1);
  });
});

describe('stop strings', () => {
  it('holds back a possible stop prefix and cuts before the stop', async () => {
    const m = new StopMatcher(['\n\n', 'END']);
    assert.equal(m.push('abc E'), 'abc ');
    assert.equal(m.push('N'), '');
    assert.equal(m.push('x'), 'ENx');
    assert.equal(m.push('y\n'), 'y');
    assert.equal(m.push('\nmore'), '');
    assert.ok(m.stopped);
  });

  it('releases held text at the end when no stop came', async () => {
    const m = new StopMatcher(['END']);
    assert.equal(m.push('the EN'), 'the ');
    assert.equal(m.flush(), 'EN');
  });
});

describe('latent CLI', () => {
  it('generate reproduces the reference greedy continuation', async () => {
    const kase = loadExpected('full').cases[0];
    const out = JSON.parse(execFileSync(process.execPath, [LATENT, 'generate', '--model', fixtureDir('full'), '--tokens', kase.input_ids.join(','), '--max-tokens', '16'], { encoding: 'utf8' }));
    assert.deepEqual(out.tokens, kase.greedy.new_tokens);
    assert.equal(out.text, '');
  });

  it('logits prints the requested positions', async () => {
    const kase = loadExpected('lite').cases[0];
    const out = JSON.parse(execFileSync(process.execPath, [LATENT, 'logits', '--model', fixtureDir('lite'), '--tokens', kase.input_ids.join(','), '--positions', '3'], { encoding: 'utf8' }));
    const n = kase.seq_len;
    assert.deepEqual(out.positions, [n - 3, n - 2, n - 1]);
    out.positions.forEach((p: number, r: number) => assert.ok(maxAbsDiff(out.logits[r], kase.logits[kase.logits_positions.indexOf(p)]) <= 1e-4));
  });

  for (const [what, args, pattern] of [
    ['a missing folder', ['generate', '--model', '/nonexistent/model', '--tokens', '1', '--max-tokens', '2'], /model folder not found/],
    ['bad token list', ['logits', '--model', fixtureDir('lite'), '--tokens', '1,x'], /--tokens must be/],
    ['a token outside the vocabulary', ['logits', '--model', fixtureDir('lite'), '--tokens', '0,99999'], /outside the vocabulary/],
    ['an unknown option', ['generate', '--model', fixtureDir('lite'), '--tokens', '1', '--max-tokens', '2', '--frobnicate'], /Unknown option/],
    ['an unknown backend', ['generate', '--model', fixtureDir('lite'), '--tokens', '1', '--max-tokens', '2', '--backend', 'tpu'], /--backend must be one of/],
    ['--prompt without a tokenizer', ['generate', '--model', fixtureDir('lite'), '--prompt', 'hi', '--max-tokens', '2'], /no tokenizer\.json/],
    ['an unknown command', ['frobnicate'], /unknown command/],
  ] as const) {
    it(`rejects ${what} with one line on stderr and exit code 2`, async () => {
      const r = latent([...args]);
      assert.equal(r.status, 2);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.equal(r.stdout, '');
    });
  }
});
