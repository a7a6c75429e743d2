// float32 -> float16 / bfloat16 rounding against a float64 reference written from the definition.
import * as assert from 'node:assert/strict';
import { f32BitsToBf16, f32BitsToF16 } from '../../engine/weights/halfPrecision';
import { NormalStream } from '../../engine/weights/seededNormal';
import { f16ToF32Table } from '../../engine/weights/tensor';
import { BF16, F16, roundToFormat } from './halfPrecisionReference';

const bitsView = new DataView(new ArrayBuffer(4));
function f32FromBits(bits: number): number {
  bitsView.setUint32(0, bits >>> 0);
  return bitsView.getFloat32(0);
}
function f32Bits(x: number): number {
  bitsView.setFloat32(0, x);
  return bitsView.getUint32(0);
}
const f16Value = (h: number) => f16ToF32Table()[h];
const bf16Value = (h: number) => f32FromBits(h << 16);

/** Pseudo-random float32 bit patterns over the whole range (all exponents, both signs). */
function randomBitPatterns(count: number): Uint32Array {
  const noise = new Float32Array(count);
  new NormalStream([12345]).fill(noise, 0, 1);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = (Math.imul(f32Bits(noise[i]), 0x9e3779b1) + Math.imul(i, 40503)) >>> 0;
  return out;
}

describe('half precision rounding', () => {
  const specials: [string, number][] = [
    ['+0', 0],
    ['-0', -0],
    ['+inf', Infinity],
    ['-inf', -Infinity],
    ['1', 1],
    ['-2.5', -2.5],
    ['float16 max', 65504],
    ['just below float16 overflow', 65519.99609375],
    ['float16 overflow tie', 65520],
    ['smallest float16 subnormal', 2 ** -24],
    ['half the smallest float16 subnormal (tie to 0)', 2 ** -25],
    ['1.5x the smallest float16 subnormal (tie to 2)', 1.5 * 2 ** -24],
    ['just above half the smallest subnormal', Math.fround(2 ** -25 * (1 + 2 ** -20))],
    ['largest float16 subnormal + half step', 1023.5 * 2 ** -24],
    ['float32 max', Math.fround(3.4028234663852886e38)],
    ['smallest float32 subnormal', 2 ** -149],
    ['a float32 subnormal (a bfloat16 subnormal too)', Math.fround(1e-40)],
    ['bfloat16 tie to even (down)', 1 + 2 ** -8],
    ['bfloat16 tie to even (up)', 1 + 3 * 2 ** -8],
  ];
  for (const [what, x] of specials) {
    it(`rounds ${what} like the reference`, async () => {
      const bits = f32Bits(x);
      assert.equal(f16Value(f32BitsToF16(bits)), roundToFormat(Math.fround(x), F16), 'float16');
      assert.equal(bf16Value(f32BitsToBf16(bits)), roundToFormat(Math.fround(x), BF16), 'bfloat16');
    });
  }

  it('keeps NaN a NaN', async () => {
    for (const bits of [0x7fc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0x7f802000]) {
      assert.ok(Number.isNaN(f16Value(f32BitsToF16(bits))), `f16 of ${bits.toString(16)}`);
      assert.ok(Number.isNaN(bf16Value(f32BitsToBf16(bits))), `bf16 of ${bits.toString(16)}`);
    }
  });

  it('rounds 200,000 random float32 values like the reference', async () => {
    for (const bits of randomBitPatterns(200_000)) {
      const x = f32FromBits(bits);
      if (Number.isNaN(x)) continue;
      const want16 = roundToFormat(x, F16);
      const wantB16 = roundToFormat(x, BF16);
      if (!Object.is(f16Value(f32BitsToF16(bits)), want16)) assert.fail(`float16 of ${x} (0x${bits.toString(16)}): ${f16Value(f32BitsToF16(bits))}, want ${want16}`);
      if (!Object.is(bf16Value(f32BitsToBf16(bits)), wantB16)) assert.fail(`bfloat16 of ${x} (0x${bits.toString(16)}): ${bf16Value(f32BitsToBf16(bits))}, want ${wantB16}`);
    }
  });

  it('gives back every float16 value exactly, and rounds every midpoint between neighbours to the even one', async () => {
    for (let h = 0; h < 0x7c00; h++) {
      for (const sign of [0, 0x8000]) {
        const v = f16Value(h | sign);
        assert.equal(f32BitsToF16(f32Bits(v)), h | sign);
        if (h + 1 < 0x7c00) {
          const mid = (v + f16Value((h + 1) | sign)) / 2; // exact in float32: one more bit than float16
          assert.equal(f32BitsToF16(f32Bits(mid)), (h % 2 === 0 ? h : h + 1) | sign, `midpoint above 0x${h.toString(16)}`);
        }
      }
    }
  });
});
