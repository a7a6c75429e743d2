// GGML block quantisation: blocks the test packs itself from chosen levels and scales decode to the spec's
// formula bit for bit; quantise -> dequantise stays within per-type error bounds on random data; edge cases.
//
// Why the expected values are exact: each spec formula is a product of an f16 (11 significant bits) with small
// integers (scale and level), at most 24 significant bits in all, so every product llama.cpp rounds to f32 is
// exact; Q4_K/Q5_K then subtract two such exact products, and Q5_1 adds its f16 min to one, one f32 rounding. So llama.cpp's f32 result is the
// real-number formula rounded once to f32, which is what Math.fround of the double expression below gives
// (double holds the products exactly, and rounding a double difference of two floats to f32 is correct).
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { dequantiseBlocks } from '../../engine/weights/dequantise';
import { GGML_TYPES, QuantDType, rowBytes, tensorBytes } from '../../engine/weights/ggmlTypes';
import { quantiseRow } from '../../engine/weights/quantise';
import { NormalStream } from '../../engine/weights/seededNormal';
import { f16ToF32Table } from '../../engine/weights/tensor';

const QUANT_TYPES: QuantDType[] = ['Q8_0', 'Q4_0', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'];
const half = (bits: number) => f16ToF32Table()[bits];

/** A deterministic integer stream for choosing levels and scales. */
function integers(seed: number): (below: number) => number {
  let s = seed >>> 0 || 1;
  return (below) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % below;
  };
}

/** Writes `value` (width bits) at bit `bit` of `bytes` (little-endian bit order within each byte). */
function putBits(bytes: Uint8Array, bit: number, width: number, value: number): void {
  for (let k = 0; k < width; k++) if ((value >> k) & 1) bytes[(bit + k) >> 3] |= 1 << ((bit + k) & 7);
}

function putHalf(bytes: Uint8Array, at: number, bits: number): void {
  bytes[at] = bits & 0xff;
  bytes[at + 1] = bits >> 8;
}

/** f16 scale patterns worth covering: 1, 0.1, a large one, the smallest subnormal, a negative one. */
const SCALE_BITS = [0x3c00, 0x2e66, 0x5bff, 0x0001, 0xb8f3, 0x1400];

/** One hand-packed block of `dtype` and the values the spec says it holds. */
function handBuiltBlock(dtype: QuantDType, seed: number): { block: Uint8Array; values: number[] } {
  const next = integers(seed);
  const block = new Uint8Array(GGML_TYPES[dtype].blockBytes);
  const values: number[] = [];
  const dBits = SCALE_BITS[seed % SCALE_BITS.length];
  const d = half(dBits);
  if (dtype === 'Q8_0' || dtype === 'Q4_0') {
    putHalf(block, 0, dBits);
    for (let i = 0; i < 32; i++) {
      if (dtype === 'Q8_0') {
        const q = next(256) - 128;
        block[2 + i] = q & 0xff;
        values.push(q * d);
      } else {
        const q = next(16);
        // Values 0-15 are the low nibbles of bytes 0-15, values 16-31 their high nibbles.
        putBits(block, 8 * (2 + (i % 16)) + (i < 16 ? 0 : 4), 4, q);
        values.push((q - 8) * d);
      }
    }
    return { block, values };
  }
  if (dtype === 'Q5_0' || dtype === 'Q5_1') {
    // f16 d, (Q5_1: f16 m,) 32 bits of qh, 16 bytes of nibbles; value i's fifth bit is bit i of qh, and its low
    // four bits sit where Q4_0 keeps them.
    const withMin = dtype === 'Q5_1';
    const mBits = SCALE_BITS[(seed + 2) % SCALE_BITS.length];
    putHalf(block, 0, dBits);
    if (withMin) putHalf(block, 2, mBits);
    const qhAt = withMin ? 4 : 2;
    for (let i = 0; i < 32; i++) {
      const q = next(32);
      putBits(block, 8 * qhAt + i, 1, q >> 4);
      putBits(block, 8 * (qhAt + 4 + (i % 16)) + (i < 16 ? 0 : 4), 4, q & 15);
      values.push(withMin ? Math.fround(q * d) + half(mBits) : (q - 16) * d);
    }
    return { block, values };
  }
  if (dtype === 'Q4_K' || dtype === 'Q5_K') {
    const dminBits = SCALE_BITS[(seed + 3) % SCALE_BITS.length] & 0x7fff;
    putHalf(block, 0, dBits);
    putHalf(block, 2, dminBits);
    const sc = Array.from({ length: 8 }, () => next(64));
    const mn = Array.from({ length: 8 }, () => next(64));
    // 12 bytes of scales: sub-blocks 0-3 keep scale and min in the low 6 bits of bytes 0-3 and 4-7; sub-blocks
    // 4-7 keep their low 4 bits in the nibbles of bytes 8-11 and their top 2 bits in the top of bytes 0-7.
    for (let j = 0; j < 8; j++) {
      if (j < 4) {
        putBits(block, 8 * (4 + j), 6, sc[j]);
        putBits(block, 8 * (4 + j + 4), 6, mn[j]);
      } else {
        putBits(block, 8 * (4 + j + 4), 4, sc[j] & 15);
        putBits(block, 8 * (4 + j + 4) + 4, 4, mn[j] & 15);
        putBits(block, 8 * (4 + j - 4) + 6, 2, sc[j] >> 4);
        putBits(block, 8 * (4 + j) + 6, 2, mn[j] >> 4);
      }
    }
    const five = dtype === 'Q5_K';
    const qsAt = five ? 48 : 16;
    for (let i = 0; i < 256; i++) {
      const s = i >> 5;
      const l = i & 31;
      const q = next(five ? 32 : 16);
      // Sub-block s: nibbles of bytes 32·(s>>1) + l, low for even s, high for odd.
      putBits(block, 8 * (qsAt + 32 * (s >> 1) + l) + 4 * (s & 1), 4, q & 15);
      if (five) putBits(block, 8 * (16 + l) + s, 1, q >> 4);
      values.push(d * sc[s] * q - half(dminBits) * mn[s]);
    }
    return { block, values };
  }
  // Q6_K: ql[128], qh[64], int8 scales[16], f16 d.
  putHalf(block, 208, dBits);
  const sc = Array.from({ length: 16 }, () => next(256) - 128);
  sc.forEach((s, j) => (block[192 + j] = s & 0xff));
  for (let i = 0; i < 256; i++) {
    const half128 = i >> 7;
    const g = (i >> 5) & 3;
    const l = i & 31;
    const q = next(64);
    putBits(block, 8 * (64 * half128 + 32 * (g & 1) + l) + 4 * (g >> 1), 4, q & 15);
    putBits(block, 8 * (128 + 32 * half128 + l) + 2 * g, 2, q >> 4);
    values.push(d * sc[i >> 4] * (q - 32));
  }
  return { block, values };
}

function normals(count: number, seed: number, mean = 0, std = 1): Float32Array {
  const out = new Float32Array(count);
  new NormalStream([seed]).fill(out, mean, std);
  return out;
}

function roundTrip(dtype: QuantDType, x: Float32Array): Float32Array {
  const bytes = new Uint8Array(tensorBytes(dtype, [x.length]));
  quantiseRow(dtype, x, bytes);
  const back = new Float32Array(x.length);
  dequantiseBlocks(dtype, bytes, 0, x.length, back);
  return back;
}

function relativeRmse(x: Float32Array, y: Float32Array): number {
  let err = 0;
  let ref = 0;
  for (let i = 0; i < x.length; i++) {
    err += (x[i] - y[i]) ** 2;
    ref += x[i] ** 2;
  }
  return Math.sqrt(err / ref);
}

/**
 * Relative RMS error bounds on N(0, 1) rows of 16,384 values. Measured: Q8_0 0.53%, Q4_0 8.7%, Q5_0 4.3%,
 * Q5_1 3.8%, Q4_K 7.2%,
 * Q5_K 3.6%, Q6_K 1.8% (llama.cpp's own quantiser gives the same blocks, so the same errors); the bounds leave ~10%.
 */
const RMSE_BOUND: Record<QuantDType, number> = { Q8_0: 0.0059, Q4_0: 0.095, Q5_0: 0.047, Q5_1: 0.042, Q4_K: 0.08, Q5_K: 0.04, Q6_K: 0.02 };

/**
 * SHA-256 of the blocks llama.cpp's `quantize_row_*_ref` writes for `goldenInput()`: ggml-org/ggml at d99724f,
 * ggml-quants.c compiled with gcc -O2 for x86-64 (no FMA), called from a 20-line C harness (not kept here).
 */
const LLAMA_CPP_BLOCKS_SHA256: Record<QuantDType, string> = {
  Q8_0: '792c60e112ee5ecf00dd337c15caed8b41373f6a785312507ff4ea151a3c645a',
  Q4_0: '445796e21533635151d44e6f5cc99505a2825b6a275685d063e8c6185d854334',
  Q5_0: '53e7991c8526134da8e0affe86f37987946f7bfa05538cc3b1c11f01b3a0a0de',
  Q5_1: 'f195b1122a7a4d4f3003480500448a565fec2e52f03ff62398049a8395f26f11',
  Q4_K: 'ec7f075753ab1cac282a5efa9154dd755721302ac8c9a62c407e48e38a09995d',
  Q5_K: '7ca8c3a46bfbca342f11e516ea2e593decdabcb90f5d4f57ea059ab0b6fba033',
  Q6_K: 'c198e7bf973e6251cc966fc3338927e13969a03006514d9cf836056aadd782fe',
};

/** 4,096 values: N(0, 1) with every 61st value ×40, a positive-only stretch and an all-zero super-block. */
function goldenInput(): Float32Array {
  const x = normals(4096, 2026);
  for (let i = 0; i < x.length; i += 61) x[i] *= 40;
  for (let i = 0; i < 512; i++) x[i] = x[i] * 0.3 + 1;
  x.fill(0, 1024, 1280);
  return x;
}

describe('GGML quantised blocks', () => {
  it('byte sizes: block sizes of ggml, rows of whole blocks, a clear error otherwise', () => {
    assert.deepEqual(
      QUANT_TYPES.map((t) => [GGML_TYPES[t].id, GGML_TYPES[t].blockElements, GGML_TYPES[t].blockBytes]),
      [[8, 32, 34], [2, 32, 18], [6, 32, 22], [7, 32, 24], [12, 256, 144], [13, 256, 176], [14, 256, 210]],
    );
    assert.equal(rowBytes('Q4_K', 2048), 8 * 144);
    assert.equal(tensorBytes('Q8_0', [3, 64]), 3 * 2 * 34);
    assert.equal(tensorBytes('BF16', [3, 5]), 30);
    assert.throws(() => rowBytes('Q4_K', 2000), /^Error: Q4_K: a row of 2000 elements is not a whole number of 256-element blocks$/);
    assert.throws(() => quantiseRow('Q8_0', new Float32Array(40), new Uint8Array(100)), /Q8_0: a row of 40 values is not a whole number of 32-value blocks/);
  });

  for (const dtype of QUANT_TYPES) {
    it(`${dtype}: quantising gives the very blocks llama.cpp's reference quantiser writes`, () => {
      const x = goldenInput();
      const bytes = new Uint8Array(tensorBytes(dtype, [x.length]));
      quantiseRow(dtype, x, bytes);
      assert.equal(createHash('sha256').update(bytes).digest('hex'), LLAMA_CPP_BLOCKS_SHA256[dtype]);
    });

    it(`${dtype}: hand-packed blocks decode to the spec's values, bit for bit`, () => {
      for (let seed = 1; seed <= 12; seed++) {
        const { block, values } = handBuiltBlock(dtype, seed);
        // Two copies, so the second block's offset is exercised too.
        const bytes = new Uint8Array(2 * block.length);
        bytes.set(block);
        bytes.set(block, block.length);
        const out = new Float32Array(2 * values.length);
        dequantiseBlocks(dtype, bytes, 0, out.length, out);
        for (let i = 0; i < out.length; i++) {
          const want = Math.fround(values[i % values.length]);
          if (!Object.is(out[i], want) && !(out[i] === 0 && want === 0)) assert.fail(`seed ${seed}, value ${i}: ${out[i]}, expected ${want}`);
        }
      }
    });

    it(`${dtype}: quantise -> dequantise on N(0, 1) rows stays within ${RMSE_BOUND[dtype] * 100}% relative RMS error`, () => {
      const x = normals(64 * 256, 7);
      const rmse = relativeRmse(x, roundTrip(dtype, x));
      assert.ok(rmse < RMSE_BOUND[dtype], `${dtype}: relative rmse ${rmse.toFixed(5)}`);
      // Re-quantising what was decoded changes little: the grid is (nearly) a fixed point.
      const once = roundTrip(dtype, x);
      assert.ok(relativeRmse(once, roundTrip(dtype, once)) < RMSE_BOUND[dtype] / 2);
    });

    it(`${dtype}: an all-zero block decodes to zeros; a negative-only block stays negative and close`, () => {
      const n = GGML_TYPES[dtype].blockElements;
      assert.ok(roundTrip(dtype, new Float32Array(n)).every((v) => v === 0));
      const neg = normals(n, 11, -3, 0.5).map((v) => -Math.abs(v) - 0.1);
      const back = roundTrip(dtype, neg);
      assert.ok(back.every((v) => v <= 0), `${dtype}: a decoded value of a negative-only block is positive`);
      assert.ok(relativeRmse(neg, back) < 2 * RMSE_BOUND[dtype], `${dtype}: negative-only rmse ${relativeRmse(neg, back)}`);
    });

    it(`${dtype}: one huge value in a block is kept (to its type's precision) and the rest stays finite`, () => {
      const n = GGML_TYPES[dtype].blockElements;
      const x = normals(n, 5);
      x[7] = 3000;
      const back = roundTrip(dtype, x);
      assert.ok(Math.abs(back[7] - 3000) / 3000 < 0.07, `${dtype}: 3000 came back as ${back[7]}`);
      assert.ok(back.every(Number.isFinite));
      // The other values are swamped by the big one's scale, but never more than a step of that scale away.
      const step = 3000 / ({ Q8_0: 127, Q4_0: 8, Q5_0: 16, Q5_1: 31, Q4_K: 15, Q5_K: 31, Q6_K: 32 } as const)[dtype];
      for (let i = 0; i < n; i++) assert.ok(Math.abs(back[i] - x[i]) <= step, `${dtype}: value ${i} ${x[i]} -> ${back[i]}`);
    });
  }
});
