// Sampling on the GPU (kernels/sample.wgsl.ts through Backend.sampleRows) against the host's pickToken: the same
// token for the same logits and draw u. Draws sit at the centres of the kept tokens' buckets (id order), where the
// f32 sums of the GPU and the host's doubles cannot disagree, so a pick that differs means a different kept set or a
// different walk. Then the engine: a seeded generation with sampling on the WebGPU backend (tokens sampled on the
// device) gives the CPU backend's tokens.
import * as assert from 'node:assert/strict';
import type { SamplingPick } from '../../engine/backend/backend';
import type { WebGpuBackend } from '../../engine/backend/webgpu/webGpuBackend';
import { defaultModelDir } from '../../engine/defaultModel';
import { Engine } from '../../engine/engine';
import { keptTokens, pickToken } from '../../engine/generate/sampler';
import { mulberry32, signedUniform } from '../../engine/generate/seededRandom';
import { allocateTensor } from '../../engine/weights/tensor';
import { fixtureDir, loadExpected } from './fixtureModel';
import { webgpuOrSkip } from './webgpuAdapter';

type Mode = Omit<SamplingPick, 'u'>;

const MODES: Mode[] = [0, 0.7, 1.3].flatMap((temperature) => [0, 40].flatMap((topK) => [1, 0.9, 0.5].map((topP) => ({ temperature, topK, topP }))));

/** Random logits: uniform in [-4, 4), a few tokens lifted to [4, 10) as a model's likely next tokens are. */
function randomLogits(V: number, seed: number): Float32Array {
  const rand = signedUniform(seed);
  const logits = Float32Array.from({ length: V }, () => 4 * rand());
  const at = mulberry32(seed + 1);
  for (let i = 0; i < 30; i++) logits[Math.floor(at() * V)] = 7 + 3 * rand();
  return logits;
}

/**
 * Draws at the centres of the kept tokens' buckets in id order (at most `most`, spread over them), skipping buckets
 * too narrow for f32 rounding to stay inside; one draw for greedy.
 */
function centreDraws(logits: Float32Array, mode: Mode, most: number): number[] {
  if (mode.temperature <= 0) return [0.5];
  const { ids, probs } = keptTokens(logits, mode);
  const total = probs.reduce((a, b) => a + b, 0);
  const order = ids.map((_, j) => j).sort((a, b) => ids[a] - ids[b]);
  const centres: number[] = [];
  let acc = 0;
  for (const j of order) {
    const w = probs[j] / total;
    if (w > 2e-5) centres.push(acc + w / 2);
    acc += w;
  }
  if (centres.length <= most) return centres;
  return Array.from({ length: most }, (_, i) => centres[Math.round((i * (centres.length - 1)) / (most - 1))]);
}

describe('webgpu sampling: the device picks the host sampler\'s token', function () {
  this.timeout(600_000);
  let gpu: WebGpuBackend;

  before(async function () {
    gpu = await webgpuOrSkip(this);
  });
  after(() => gpu?.dispose());
  afterEach(() => gpu?.endStep());

  /** Each (row, pick) sampled on the GPU, the rows entering as an embedding table (the seam's one way in). */
  async function sampleOnGpu(rows: Float32Array[], picks: { row: number; pick: SamplingPick }[]): Promise<Int32Array> {
    const V = rows[0].length;
    const { tensor } = allocateTensor(`logits ${V}`, 'F32', [rows.length, V]);
    rows.forEach((r, i) => (tensor.data as Float32Array).set(r, i * V));
    const logits = gpu.embed(gpu.adoptWeight(tensor), Int32Array.from(picks.map((p) => p.row)));
    return gpu.sampleRows(logits, picks.map((p) => p.pick));
  }

  /** Every mode of `modes` at its centre draws on every row: the GPU's picks equal pickToken's. */
  async function agree(what: string, rows: Float32Array[], modes: Mode[], drawsPerMode: number): Promise<void> {
    const picks = rows.flatMap((logits, row) => modes.flatMap((mode) =>
      centreDraws(logits, mode, drawsPerMode).map((u) => ({ row, pick: { ...mode, u } }))));
    const got = await sampleOnGpu(rows, picks);
    picks.forEach(({ row, pick }, i) => {
      const want = pickToken(rows[row], pick);
      assert.equal(got[i], want, `${what}, row ${row}, ${JSON.stringify(pick)}: gpu ${got[i]}, cpu ${want}`);
    });
  }

  for (const V of [8192, 102400]) {
    it(`random logits, vocabulary ${V}: temperatures 0 / 0.7 / 1.3, topK 0 / 40, topP 1 / 0.9 / 0.5`, async () => {
      await agree(`V ${V}`, [randomLogits(V, V + 1), randomLogits(V, V + 2)], MODES, V > 10000 ? 4 : 10);
    });
  }

  it('ties at the cuts: logits on a coarse grid (top-k and top-p cut inside a run of equal logits, lower ids kept)', async () => {
    const rows = [1, 2].map((seed) => randomLogits(8192, seed).map((x) => Math.round(x * 2) / 2));
    await agree('coarse grid', rows, MODES, 12);
  });

  it('a pair tied across the top-k cut and across the top-p cut: only the lower id of the two is kept', async () => {
    const V = 8192;
    /** The row with the first token past the kept ones given the last kept one's logit, and the tied pair. */
    const tiedAt = (logits: Float32Array, mode: Mode): { row: Float32Array; pair: number[] } => {
      const { ids } = keptTokens(logits, { ...mode, topK: 0, topP: 1 });
      const kept = keptTokens(logits, mode).ids.length;
      const row = logits.slice();
      row[ids[kept]] = row[ids[kept - 1]];
      return { row, pair: [ids[kept - 1], ids[kept]] };
    };
    const k40 = { temperature: 1.3, topK: 40, topP: 1 };
    const p90 = { temperature: 0.7, topK: 0, topP: 0.9 };
    const cases = [{ mode: k40, ...tiedAt(randomLogits(V, 21), k40) }, { mode: p90, ...tiedAt(randomLogits(V, 22), p90) }];
    for (const { mode, row, pair } of cases) {
      const kept = keptTokens(row, mode).ids;
      assert.deepEqual(pair.filter((id) => kept.includes(id)), [Math.min(...pair)], `${JSON.stringify(mode)}: the pair straddles the cut`);
    }
    const rows = cases.map((c) => c.row);
    await agree('tied across the top-k cut', [rows[0]], [k40], 40);
    await agree('tied across the top-p cut', [rows[1]], [p90], 40);
  });

  it('greedy ties go to the lowest id; -0 and +0 tie; the last id can win', async () => {
    const V = 8192;
    const ties = randomLogits(V, 5);
    for (const i of [5000, 7, 300]) ties[i] = 11;
    const zeros = Float32Array.from({ length: V }, (_, i) => (i % 2 === 0 ? -0 : 0));
    const last = randomLogits(V, 6);
    last[V - 1] = 12;
    const greedy = { temperature: 0, topK: 0, topP: 1, u: 0.3 };
    const got = await sampleOnGpu([ties, zeros, last], [0, 1, 2].map((row) => ({ row, pick: greedy })));
    assert.deepEqual([...got], [7, 0, V - 1]);
  });

  it('degenerate rows: all logits equal (every bucket\'s centre), one huge logit, all but five masked to -Infinity', async () => {
    const V = 8192;
    const equal = new Float32Array(V).fill(3.5);
    // All equal: topK 40 keeps ids 0..39 and topP 0.5 keeps 0..4095, each bucket as wide as the others.
    const k40 = { temperature: 0.7, topK: 40, topP: 1 };
    const picks = Array.from({ length: 40 }, (_, j) => ({ row: 0, pick: { ...k40, u: (j + 0.5) / 40 } }));
    assert.deepEqual(picks.map((p) => pickToken(equal, p.pick)), Array.from({ length: 40 }, (_, j) => j));
    assert.deepEqual(keptTokens(equal, { temperature: 1, topK: 0, topP: 0.5 }).ids, Array.from({ length: V / 2 }, (_, j) => j));
    assert.deepEqual([...await sampleOnGpu([equal], picks)], Array.from({ length: 40 }, (_, j) => j));
    await agree('all equal', [equal], MODES, 16);

    const huge = randomLogits(V, 9);
    huge[1234] = 1e4;
    const masked = new Float32Array(V).fill(-Infinity);
    for (const [i, x] of [[17, 1], [900, 2.5], [901, 2.5], [4000, -3], [8191, 0.5]]) masked[i] = x;
    for (const [name, row] of [['one huge logit', huge], ['masked', masked]] as const) {
      const draws = MODES.flatMap((mode) => [0, 0.37, 0.999].map((u) => ({ row: 0, pick: { ...mode, u } })));
      const got = await sampleOnGpu([row], draws);
      draws.forEach(({ pick }, i) => assert.equal(got[i], pickToken(row, pick), `${name}, ${JSON.stringify(pick)}`));
      if (name === 'one huge logit') assert.ok(got.every((t) => t === 1234));
    }
  });
});

/** Counts the rows the backend samples on the device (wraps its sampleRows). */
function countDeviceSamples(backend: WebGpuBackend): { rows: number } {
  const counter = { rows: 0 };
  const sampleRows = backend.sampleRows.bind(backend);
  backend.sampleRows = (logits, picks) => {
    counter.rows += picks.length;
    return sampleRows(logits, picks);
  };
  return counter;
}

describe('webgpu sampling in the engine: a seeded generation equals the CPU backend\'s', function () {
  this.timeout(600_000);

  before(async function () {
    (await webgpuOrSkip(this)).dispose();
  });

  it('temperature 0.7 / 1.3 with top-k and top-p: the same tokens, sampled on the device (only ids read back)', async () => {
    const dir = fixtureDir('lite');
    const prompt = loadExpected('lite').cases[1].input_ids;
    const [cpu, gpu] = await Promise.all((['cpu-reference', 'webgpu'] as const).map((backend) => Engine.load(dir, { backend, cacheBudgetBytes: 4 << 20 })));
    const sampled = countDeviceSamples(gpu.model.backend as WebGpuBackend);
    try {
      const settings = [
        { temperature: 0.7, topK: 40, topP: 0.9, seed: 11 },
        { temperature: 1.3, topK: 0, topP: 0.5, seed: 12 },
        { temperature: 1.3, topK: 0, topP: 1, seed: 13 },
      ];
      for (const sampling of settings) {
        const request = { prompt, maxTokens: 12, sampling };
        const before = sampled.rows;
        const [want, got] = await Promise.all([cpu.generate(request), gpu.generate(request)]);
        assert.deepEqual(got.tokens, want.tokens, JSON.stringify(sampling));
        assert.equal(sampled.rows - before, got.tokens.length + (got.finishReason === 'stop' ? 1 : 0), 'every token sampled on the device');
      }
    } finally {
      cpu.dispose();
      gpu.dispose();
    }
  });

  it('token healing: the restricted first pick on the host, the rest on the device; the CPU backend\'s tokens and text', async () => {
    const [cpu, gpu] = await Promise.all((['cpu-reference', 'webgpu'] as const).map((backend) => Engine.load(defaultModelDir(), { backend, cacheBudgetBytes: 16 << 20 })));
    const sampled = countDeviceSamples(gpu.model.backend as WebGpuBackend);
    try {
      const prompt = gpu.tokenizer!.encode('def add(a, b):\n', { addBos: gpu.tokenizer!.addBos });
      const request = { prompt, maxTokens: 6, sampling: { temperature: 0.8, topK: 40, topP: 0.95, seed: 3 }, tokenHealing: true };
      const [want, got] = await Promise.all([cpu.generate(request), gpu.generate(request)]);
      assert.deepEqual(got.tokens, want.tokens);
      assert.equal(got.text, want.text);
      assert.equal(got.promptTokens, prompt.length);
      assert.equal(sampled.rows, got.tokens.length - 1 + (got.finishReason === 'stop' ? 1 : 0), 'all but the healed first token sampled on the device');
    } finally {
      cpu.dispose();
      gpu.dispose();
    }
  });
});
