// Every Backend op on the WebGPU backend against the CPU reference backend (double accumulation), on random
// inputs: shapes as the model uses them and awkward ones (odd widths, one row, GEMV and GEMM sizes, contexts longer
// than one flash-decoding chunk, shuffled pages). Inputs enter both backends the same way, as rows of an
// embedding table (the seam has no other way in), and leave through `read`.
import * as assert from 'node:assert/strict';
import type { Activation, Backend, RouterSpec } from '../../engine/backend/backend';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import type { WebGpuBackend } from '../../engine/backend/webgpu/webGpuBackend';
import { COPY_BLOCK_WGSL } from '../../engine/backend/webgpu/kernels/copyBlock.wgsl';
import { ContiguousLatentCache, LatentCache } from '../../engine/cache/latentCache';
import type { LatentFormat } from '../../engine/cache/latentFormat';
import { LatentPool, PAGE_TOKENS } from '../../engine/cache/latentPool';
import { PagedLatentCache } from '../../engine/cache/pagedLatentCache';
import { Rope } from '../../engine/model/rope';
import { readConfig } from '../../engine/weights/modelFolder';
import type { QuantDType } from '../../engine/weights/ggmlTypes';
import type { DType } from '../../engine/weights/safetensors';
import { inputs, randomTensor } from './backendInputs';
import { fixtureDir, maxAbsDiff } from './fixtureModel';
import { webgpuOrSkip } from './webgpuAdapter';

describe('webgpu backend: every op against the CPU reference on random inputs', function () {
  this.timeout(300_000);
  let gpu: WebGpuBackend;
  const cpu = new CpuBackend();
  let both: Backend[];

  before(async function () {
    gpu = await webgpuOrSkip(this);
    both = [cpu, gpu];
  });
  after(() => gpu?.dispose());
  afterEach(() => both?.forEach((b) => b.endStep()));

  /** Reads the activation from each backend and compares them. */
  async function agree(what: string, acts: Activation[], tol: number): Promise<Float32Array[]> {
    const [want, got] = await Promise.all(acts.map((a, i) => both[i].read(a)));
    assert.equal(got.length, want.length, `${what}: length`);
    const diff = maxAbsDiff(got, want);
    assert.ok(diff <= tol, `${what}: max |gpu - cpu| ${diff} > ${tol}`);
    return [want, got];
  }

  it('embed: rows of f32, f16 and bf16 tables (exact)', async () => {
    for (const dtype of ['F32', 'F16', 'BF16'] as DType[]) {
      const table = randomTensor(`embed ${dtype}`, dtype, [50, 19], 3);
      const ids = Int32Array.of(4, 0, 49, 4, 17);
      await agree(`embed ${dtype}`, both.map((b) => b.embed(b.adoptWeight(table), ids)), 0);
    }
  });

  for (const dtype of ['F32', 'F16', 'BF16'] as DType[]) {
    it(`linear over ${dtype} weights: GEMV (1-4 rows) and tiled GEMM (5-130 rows), odd shapes`, async () => {
      for (const [n, rows, cols] of [[1, 37, 64], [4, 64, 130], [5, 130, 256], [17, 9, 41], [1, 1, 8], [70, 100, 64], [130, 65, 33]]) {
        const w = randomTensor(`w ${dtype} ${rows}x${cols}`, dtype, [rows, cols], rows * 31 + cols);
        const xs = inputs(both, n, cols, n * 7 + cols);
        await agree(`linear ${dtype} n=${n} [${rows}, ${cols}]`, xs.map((x, i) => both[i].linear(x, both[i].adoptWeight(w))), cols * 2 ** -21);
      }
    });
  }

  // GGML block-quantised weights, decoded in-kernel from their blocks. Row lengths are whole blocks (32 values, 256
  // for the K-quants); Q8_0's 34-byte and Q6_K's 210-byte blocks leave rows and matrices off word boundaries.
  const QUANT: [QuantDType, number][] = [['Q8_0', 32], ['Q4_0', 32], ['Q5_0', 32], ['Q5_1', 32], ['Q4_K', 256], ['Q5_K', 256], ['Q6_K', 256]];

  it('embed: rows of every block-quantised table, decoded as the CPU decodes them', async () => {
    for (const [dtype, block] of QUANT) {
      const table = randomTensor(`embed ${dtype}`, dtype, [13, 3 * block], 11);
      const ids = Int32Array.of(4, 0, 12, 4, 7);
      // Within an ulp of the value: the compiler may fuse the reference's separate multiply and subtract.
      await agree(`embed ${dtype}`, both.map((b) => b.embed(b.adoptWeight(table), ids)), 2 ** -22);
    }
  });

  for (const [dtype, block] of QUANT) {
    it(`linear over ${dtype} weights: GEMV (1-4 rows) and tiled GEMM (5-130 rows), odd row counts`, async () => {
      for (const [n, rows, blocks] of [[1, 37, 2], [4, 64, 4], [5, 130, 1], [17, 9, 3], [70, 33, 2]]) {
        const cols = blocks * block;
        const w = randomTensor(`w ${dtype} ${rows}x${cols}`, dtype, [rows, cols], rows * 31 + cols);
        const xs = inputs(both, n, cols, n * 7 + cols);
        await agree(`linear ${dtype} n=${n} [${rows}, ${cols}]`, xs.map((x, i) => both[i].linear(x, both[i].adoptWeight(w))), cols * 2 ** -21);
      }
    });
  }

  it('linearPerHead: per-head W_UK-like weights over strided query columns, 1 and 6 rows', async () => {
    for (const n of [1, 6]) {
      const H = 3, dn = 16, dr = 8, r = 32;
      const ws = Array.from({ length: H }, (_, h) => randomTensor(`uk ${h}`, 'F32', [r, dn], 100 + h));
      const xs = inputs(both, n, H * (dn + dr), 9 + n);
      await agree(`linearPerHead n=${n}`, xs.map((x, i) => both[i].linearPerHead(x, ws.map((w) => both[i].adoptWeight(w)), dn + dr, 0)), dn * 2 ** -21);
      const wv = Array.from({ length: H }, (_, h) => randomTensor(`uv ${h}`, 'BF16', [20, r], 200 + h));
      const os = inputs(both, n, H * r, 19 + n);
      await agree(`linearPerHead (W_UV, bf16) n=${n}`, os.map((x, i) => both[i].linearPerHead(x, wv.map((w) => both[i].adoptWeight(w)), r, 0)), r * 2 ** -21);
    }
  });

  it('linearPerHead over block-quantised per-head weights (Q8_0 and Q6_K matrices off word boundaries), 1 and 6 rows', async () => {
    for (const [dtype, dn] of [['Q8_0', 32], ['Q6_K', 256]] as [QuantDType, number][]) {
      for (const n of [1, 6]) {
        const H = 3, dr = 8, r = 5;
        const ws = Array.from({ length: H }, (_, h) => randomTensor(`uk ${dtype} ${h}`, dtype, [r, dn], 300 + h));
        const xs = inputs(both, n, H * (dn + dr), 29 + n);
        await agree(`linearPerHead ${dtype} n=${n}`, xs.map((x, i) => both[i].linearPerHead(x, ws.map((w) => both[i].adoptWeight(w)), dn + dr, 0)), dn * 2 ** -21);
      }
    }
  });

  it('rmsNorm: whole rows and a column range (kv_a\'s c_kv), f32 and bf16 weights', async () => {
    for (const [dtype, offset, width, cols] of [['F32', 0, 64, 64], ['BF16', 0, 32, 40], ['F32', 3, 29, 40]] as const) {
      const weight = randomTensor(`norm ${dtype}`, dtype, [width], 5 + offset);
      const xs = inputs(both, 7, cols, 77);
      await agree(`rmsNorm ${dtype} [${offset}, +${width})`, xs.map((x, i) => both[i].rmsNorm(x, both[i].adoptWeight(weight), 1e-6, offset, width)), 1e-5);
    }
  });

  it('applyRope: interleaved in, half-split out, plain and YaRN, several heads and positions (incl. large ones)', async () => {
    for (const fixture of ['lite', 'full']) {
      const config = readConfig(fixtureDir(fixture));
      const rope = new Rope(config);
      const dr = config.qkRopeHeadDim, H = 3, stride = 5 + dr;
      const positions = Int32Array.of(0, 1, 17, 160, 4095, 40000);
      const xs = inputs(both, positions.length, H * stride, 31);
      xs.forEach((x, i) => both[i].applyRope(x, rope, positions, H, stride, 5));
      await agree(`applyRope ${fixture}`, xs, 2e-5 * 8);
    }
  });

  it('addInto, siluMul, sliceRows, sliceCols, concatRows', async () => {
    const a = inputs(both, 5, 33, 1, 4), b = inputs(both, 5, 33, 2, 4);
    both.forEach((be, i) => be.addInto(a[i], b[i]));
    await agree('addInto', a, 1e-6);
    const g = inputs(both, 5, 33, 3, 6), u = inputs(both, 5, 33, 4);
    await agree('siluMul', g.map((x, i) => both[i].siluMul(x, u[i])), 1e-5);
    await agree('sliceRows', a.map((x, i) => both[i].sliceRows(x, 1, 3)), 0);
    await agree('sliceCols', a.map((x, i) => both[i].sliceCols(x, 30, 3)), 0);
    await agree('concatRows', a.map((x, i) => both[i].concatRows([both[i].sliceRows(x, 3, 2), b[i], both[i].sliceCols(x, 0, 33)])), 0);
  });

  it('route: softmax + greedy and group-limited top-k, normalised and scaled, ties to the lower index', async () => {
    const specs: [number, RouterSpec][] = [
      [8, { topK: 6, method: 'greedy', nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 }],
      [16, { topK: 3, method: 'group_limited_greedy', nGroup: 4, topkGroup: 2, normTopkProb: false, routedScalingFactor: 2.5 }],
      [64, { topK: 6, method: 'greedy', nGroup: 1, topkGroup: 1, normTopkProb: true, routedScalingFactor: 2 }],
      [160, { topK: 6, method: 'group_limited_greedy', nGroup: 8, topkGroup: 3, normTopkProb: false, routedScalingFactor: 16 }],
    ];
    for (const [E, spec] of specs) {
      const logits = inputs(both, 23, E, E, 3);
      const [want, got] = await Promise.all(logits.map((l, i) => both[i].readRouting(both[i].route(l, spec))));
      assert.deepEqual([...got.experts], [...want.experts], `experts, ${E} experts ${spec.method}`);
      assert.ok(maxAbsDiff(got.weights, want.weights) <= 1e-6 * spec.routedScalingFactor, `weights, ${E} experts`);
    }
    // Ties: equal logits pick the lowest indices, as the reference's stable order does.
    const flat = both.map((b) => b.embed(b.adoptWeight(randomTensor('zeros', 'F32', [2, 8], 0, 0)), Int32Array.of(0, 1)));
    const spec: RouterSpec = { topK: 3, method: 'greedy', nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 };
    const [want, got] = await Promise.all(flat.map((l, i) => both[i].readRouting(both[i].route(l, spec))));
    assert.deepEqual([...got.experts], [...want.experts]);
  });

  it('routedExperts: Σ w_k·expert_k(x) from the routing in device memory (f32, f16, bf16 experts; even and odd widths)', async () => {
    for (const [dtype, D, inter] of [['F32', 24, 12], ['BF16', 24, 12], ['F16', 25, 13], ['F32', 25, 13]] as [DType, number, number][]) {
      const E = 8;
      const experts = Array.from({ length: E }, (_, e) => ({
        gate: randomTensor(`g${e}`, dtype, [inter, D], 10 + e), up: randomTensor(`u${e}`, dtype, [inter, D], 30 + e), down: randomTensor(`d${e}`, dtype, [D, inter], 50 + e),
      }));
      const spec: RouterSpec = { topK: 3, method: 'greedy', nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 };
      // 1 and 9 tokens: GEMVs per pair; 200 (75 pairs an expert on average): pairs sorted by expert, grouped GEMMs.
      for (const n of dtype === 'BF16' ? [1, 9, 200] : [1, 9]) {
        const xs = inputs(both, n, D, 70 + n), logits = inputs(both, n, E, 80 + n, 3);
        const adopted = both.map((b) => experts.map((e) => ({ gate: b.adoptWeight(e.gate), up: b.adoptWeight(e.up), down: b.adoptWeight(e.down) })));
        await agree(`routedExperts ${dtype} [${inter}, ${D}] n=${n}`, xs.map((x, i) => both[i].routedExperts(x, both[i].route(logits[i], spec), adopted[i])), 1e-5);
      }
    }
  });

  it('routedExperts over block-quantised experts (Q8_0, Q5_0, Q4_K, Q6_K): GEMVs per pair and grouped GEMMs', async () => {
    for (const [dtype, D, inter] of [['Q8_0', 64, 32], ['Q5_0', 32, 96], ['Q4_K', 256, 256], ['Q6_K', 256, 256]] as [QuantDType, number, number][]) {
      const E = 8;
      const scale = 1 / Math.sqrt(D);
      const experts = Array.from({ length: E }, (_, e) => ({
        gate: randomTensor(`g${e}`, dtype, [inter, D], 10 + e, scale), up: randomTensor(`u${e}`, dtype, [inter, D], 30 + e, scale), down: randomTensor(`d${e}`, dtype, [D, inter], 50 + e, scale),
      }));
      const spec: RouterSpec = { topK: 3, method: 'greedy', nGroup: 1, topkGroup: 1, normTopkProb: false, routedScalingFactor: 1 };
      for (const n of [1, 200]) {
        const xs = inputs(both, n, D, 70 + n), logits = inputs(both, n, E, 80 + n, 3);
        const adopted = both.map((b) => experts.map((e) => ({ gate: b.adoptWeight(e.gate), up: b.adoptWeight(e.up), down: b.adoptWeight(e.down) })));
        await agree(`routedExperts ${dtype} [${inter}, ${D}] n=${n}`, xs.map((x, i) => both[i].routedExperts(x, both[i].route(logits[i], spec), adopted[i])), 1e-5);
      }
    }
  });

  /** Latent caches of each backend, paged over a pool of the backend's own store with shuffled pages, or private. */
  function caches(kind: 'paged' | 'private', format: LatentFormat, layers: number, r: number, dr: number): LatentCache[] {
    return both.map((b) => {
      if (kind === 'private') return new ContiguousLatentCache(layers, r, dr);
      const shape = { numLayers: layers, kvLoraRank: r, qkRopeHeadDim: dr };
      const pool = new LatentPool(shape, format, 64 * PAGE_TOKENS * layers * (r + dr) * 4, (cap) => b.createLatentStore(shape, format, cap));
      // Take pages out of order, so that page tables are not the identity.
      const order = Array.from({ length: 24 }, (_, i) => (i * 7 + 5) % 24);
      const held = order.map(() => pool.tryAlloc()!);
      let next = 0;
      return new PagedLatentCache(pool, () => {
        const page = held[order[next++]];
        return page;
      });
    });
  }

  for (const [kind, format] of [['private', 'fp32'], ['paged', 'fp32'], ['paged', 'fp16']] as const) {
    it(`writeLatents, gatherLatents, attendLatent and attendHeads over ${kind} ${format} latents (contexts past one chunk)`, async () => {
      const layers = 2, r = 32, dr = 8, H = 3, dn = 16, dv = 12, qStride = dn + dr;
      const cs = caches(kind, format, layers, r, dr);
      const tol = format === 'fp32' ? 2e-5 : 2e-5;
      let pos = 0;
      // A prefill of 250 tokens, then an extend of 40 and a decode of 1 (context 291 > one 256-token chunk).
      for (const count of [250, 40, 1]) {
        cs.forEach((c) => c.grow(count));
        const items = cs.map((cache) => [{ cache, row: 0, count, pos0: pos }]);
        for (let layer = 0; layer < layers; layer++) {
          const cKv = inputs(both, count, r, 1000 + pos + layer), kPe = inputs(both, count, dr, 2000 + pos + layer);
          both.forEach((b, i) => b.writeLatents(layer, items[i], cKv[i], kPe[i]));
        }
        const end = pos + count;
        const layer = 1;
        const gathered = both.map((b, i) => b.gatherLatents(layer, cs[i], end));
        await agree(`gatherLatents c_kv (${count} new)`, gathered.map((g) => g.cKv), 0);
        await agree(`gatherLatents k_pe (${count} new)`, gathered.map((g) => g.kPe), 0);
        const qLat = inputs(both, count, H * r, 3000 + pos), q = inputs(both, count, H * qStride, 4000 + pos);
        await agree(`attendLatent (${count} new, context ${end})`, qLat.map((ql, i) => both[i].attendLatent(layer, items[i][0], H, ql, q[i], qStride, dn, 0.3)), tol);
        const kv = inputs(both, end, H * (dn + dv), 5000 + pos);
        await agree(`attendHeads (${count} new, context ${end})`, q.map((qq, i) => both[i].attendHeads(items[i][0], H, qq, kv[i], gathered[i].kPe, dn, dv, 0.3)), tol);
        both.forEach((b) => b.endStep());
        pos = end;
      }
    });
  }

  it('no WebGPU error is silent: one outside any scope is thrown by the next flush, a bad kernel by the read that runs it', async () => {
    const device = gpu.runtime.device;
    const buffer = device.createBuffer({ size: 16, usage: 8 /* COPY_DST */ });
    device.queue.writeBuffer(buffer, 3, new Uint8Array(8)); // a misaligned offset: a validation error
    await new Promise((resolve) => setTimeout(resolve, 100));
    await assert.rejects(gpu.settle(), /webgpu: GPUValidationError: .*not a multiple of 4/);
    buffer.destroy();
    // A dispatch that reads a buffer without STORAGE usage fails validation when its step is flushed.
    const [x] = inputs([gpu], 2, 8, 1);
    const table = gpu.queue.activation(2, 8);
    gpu.queue.dispatch(() => gpu.runtime.pipeline('copyBlock-test', () => COPY_BLOCK_WGSL), [2, 8, 0, 8, 0, 8, 0, 0],
      [() => device.createBuffer({ size: 64, usage: 8 }), table], [1, 2, 1]);
    await assert.rejects(gpu.read(x), /webgpu: validation error: .*STORAGE|Usage/i);
    gpu.endStep();
    // The backend goes on working.
    const [y] = inputs([gpu], 2, 8, 2);
    assert.equal((await gpu.read(y)).length, 16);
  });

  it('copyToken: the latent store re-positions k_pe on the GPU as the host store does (plain and YaRN)', async () => {
    for (const fixture of ['lite', 'full']) {
      const config = readConfig(fixtureDir(fixture));
      const rope = new Rope(config);
      const layers = 2, r = config.kvLoraRank, dr = config.qkRopeHeadDim;
      for (const format of ['fp32', 'fp16'] as LatentFormat[]) {
        const cs = caches('paged', format, layers, r, dr) as PagedLatentCache[];
        const n = 40;
        cs.forEach((c) => c.grow(n));
        for (let layer = 0; layer < layers; layer++) {
          const cKv = inputs(both, n, r, 10 + layer), kPe = inputs(both, n, dr, 20 + layer);
          both.forEach((b, i) => b.writeLatents(layer, [{ cache: cs[i], row: 0, count: n, pos0: 0 }], cKv[i], kPe[i]));
        }
        // Token i moves from position i to 3000 + 7i, into a slot of another page.
        cs.forEach((c) => c.grow(n));
        cs.forEach((c) => {
          for (let i = 0; i < n; i++) {
            const src = c.locate(i), dst = c.locate(n + i);
            c.pool.copyToken(src.page, src.slot, dst.page, dst.slot, rope, i, 3000 + 7 * i);
          }
        });
        for (let layer = 0; layer < layers; layer++) {
          const g = both.map((b, i) => b.gatherLatents(layer, cs[i], 2 * n));
          await agree(`copyToken ${fixture} ${format} layer ${layer} c_kv`, g.map((x) => x.cKv), format === 'fp32' ? 0 : 1e-3);
          await agree(`copyToken ${fixture} ${format} layer ${layer} k_pe`, g.map((x) => x.kPe), format === 'fp32' ? 1e-5 : 2e-3);
        }
        both.forEach((b) => b.endStep());
      }
    }
  });
});
