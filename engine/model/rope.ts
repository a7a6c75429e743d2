// Rotary position embedding of DeepSeek-V2, with YaRN. The checkpoint stores the rope dims as interleaved pairs
// (x0,x1),(x2,x3)...; the reference de-interleaves them and rotates in half-split order, so the rotated vector
// comes out as [first halves | second halves]. Tables are float32, as in the reference.
import type { DeepseekV2Config, YarnScaling } from './config';

const f = Math.fround;

/** YaRN's attention-magnitude correction m(scale, mscale). */
export function yarnMscale(scale: number, mscale: number): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

export function ropeInvFreq(c: DeepseekV2Config): Float32Array {
  const dim = c.qkRopeHeadDim;
  const half = dim / 2;
  const extra = new Float32Array(half);
  for (let i = 0; i < half; i++) extra[i] = f(1 / f(c.ropeTheta ** f((2 * i) / dim)));
  const s = c.ropeScaling;
  if (!s) return extra;
  const inter = new Float32Array(half);
  for (let i = 0; i < half; i++) inter[i] = f(1 / f(s.factor * f(c.ropeTheta ** f((2 * i) / dim))));
  const [low, high] = yarnCorrectionRange(s, dim, c.ropeTheta);
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const ramp = f(Math.min(1, Math.max(0, f(f(i - low) / f(high - low)))));
    const keepMask = f(1 - ramp); // the reference's inv_freq_mask: 1 keeps the original frequency
    out[i] = f(f(inter[i] * f(1 - keepMask)) + f(extra[i] * keepMask));
  }
  return out;
}

function yarnCorrectionRange(s: YarnScaling, dim: number, base: number): [number, number] {
  const d = (rotations: number) => (dim * Math.log(s.originalMaxPositionEmbeddings / (rotations * 2 * Math.PI))) / (2 * Math.log(base));
  const low = Math.max(Math.floor(d(s.betaFast)), 0);
  let high = Math.min(Math.ceil(d(s.betaSlow)), dim - 1);
  if (low === high) high += 0.001;
  return [low, high];
}

/** The factor on cos and sin (1 when mscale equals mscale_all_dim, as in every released config). */
function cosSinMultiplier(c: DeepseekV2Config): number {
  const s = c.ropeScaling;
  return s ? f(yarnMscale(s.factor, s.mscale) / yarnMscale(s.factor, s.mscaleAllDim)) : 1;
}

/** The attention softmax scale: (dn+dr)^-0.5, times m² under YaRN with mscale_all_dim. */
export function softmaxScale(c: DeepseekV2Config): number {
  let scale = (c.qkNopeHeadDim + c.qkRopeHeadDim) ** -0.5;
  const s = c.ropeScaling;
  if (s && s.mscaleAllDim) {
    const m = yarnMscale(s.factor, s.mscaleAllDim);
    scale *= m * m;
  }
  return scale;
}

export class Rope {
  readonly invFreq: Float32Array;
  private readonly multiplier: number;
  private readonly half: number;
  private readonly cos: Float32Array;
  private readonly sin: Float32Array;
  /** Scratch for one rotated vector (rotation runs per token per head: no allocation there). */
  private readonly rotated: Float32Array;

  constructor(c: DeepseekV2Config) {
    this.invFreq = ropeInvFreq(c);
    this.multiplier = cosSinMultiplier(c);
    this.half = c.qkRopeHeadDim / 2;
    this.cos = new Float32Array(this.half);
    this.sin = new Float32Array(this.half);
    this.rotated = new Float32Array(2 * this.half);
  }

  /** cos/sin of angle pos·inv_freq (pos may be negative, for re-positioning by a delta). */
  private angles(pos: number): void {
    for (let i = 0; i < this.half; i++) {
      const theta = f(f(pos) * this.invFreq[i]);
      this.cos[i] = f(f(Math.cos(theta)) * this.multiplier);
      this.sin[i] = f(f(Math.sin(theta)) * this.multiplier);
    }
  }

  /**
   * Rotates v[off .. off+dr) in place for position pos: reads the interleaved checkpoint layout, writes
   * half-split order (out[i] = x[2i]cos − x[2i+1]sin, out[half+i] = x[2i+1]cos + x[2i]sin).
   */
  applyInterleaved(v: Float32Array, off: number, pos: number): void {
    this.angles(pos);
    const h = this.half;
    const tmp = this.rotated;
    for (let i = 0; i < h; i++) {
      const a = v[off + 2 * i], b = v[off + 2 * i + 1];
      tmp[i] = a * this.cos[i] - b * this.sin[i];
      tmp[h + i] = b * this.cos[i] + a * this.sin[i];
    }
    v.set(tmp, off);
  }

  /**
   * Moves an already rotated (half-split) key from position `from` to position `to`: un-rotates it with the very
   * cos/sin the forward used at `from`, then rotates it with those of `to`. Composing a rotation by the delta
   * instead would round the angle differently from the forward (f32 angles at large positions), which missed a
   * direct rotation by 1e-3 at 16K under YaRN; from absolute angles the result matches the forward to f32 rounding.
   */
  reposition(v: Float32Array, off: number, from: number, to: number): void {
    if (from === to) return;
    const h = this.half;
    this.angles(from);
    const tmp = this.rotated;
    for (let i = 0; i < h; i++) {
      // Inverse of [c -s; s c] scaled by the multiplier: its transpose over c² + s².
      const c = this.cos[i], s = this.sin[i], norm = c * c + s * s;
      const a = v[off + i], b = v[off + h + i];
      tmp[i] = (a * c + b * s) / norm;
      tmp[h + i] = (b * c - a * s) / norm;
    }
    this.angles(to);
    for (let i = 0; i < h; i++) {
      const a = tmp[i], b = tmp[h + i];
      v[off + i] = a * this.cos[i] - b * this.sin[i];
      v[off + h + i] = b * this.cos[i] + a * this.sin[i];
    }
  }
}
