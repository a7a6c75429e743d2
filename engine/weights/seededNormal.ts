// Seeded normal deviates for random checkpoints: xoshiro128** (fast 32-bit integer PRNG) and Marsaglia's polar
// method. A stream is keyed by any list of 32-bit words (the seed, a tensor's name, a chunk index), so each piece
// of a checkpoint can be drawn on its own and still come out the same every time.

/** splitmix32's finaliser: a bijective 32-bit mix. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** FNV-1a hash of a string's UTF-16 code units. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** A non-negative integer seed (up to 2^53) as two 32-bit words. */
export function seedWords(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer (got ${seed})`);
  return [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
}

export class NormalStream {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(key: number[]) {
    let h = 0x9e3779b9;
    for (const w of key) h = mix32((h ^ w) + 0x9e3779b9);
    const next = () => (h = mix32(h + 0x9e3779b9));
    this.s0 = next() | 1; // never the all-zero state
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Fills `out` with draws from N(mean, std²) (rounded to float32). */
  fill(out: Float32Array, mean: number, std: number): void {
    let a = this.s0;
    let b = this.s1;
    let c = this.s2;
    let d = this.s3;
    const n = out.length;
    for (let i = 0; i < n; ) {
      // Two xoshiro128** outputs, inlined: this loop is the whole cost of writing a random checkpoint.
      let m = Math.imul(b, 5);
      const r1 = Math.imul((m << 7) | (m >>> 25), 9);
      let t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
      m = Math.imul(b, 5);
      const r2 = Math.imul((m << 7) | (m >>> 25), 9);
      t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
      // Polar method: a point uniform in the unit disc gives two independent standard normals.
      const x = r1 * 4.656612873077393e-10; // r1 / 2^31, in [-1, 1)
      const y = r2 * 4.656612873077393e-10;
      const q = x * x + y * y;
      if (q >= 1 || q === 0) continue;
      const f = Math.sqrt((-2 * Math.log(q)) / q) * std;
      out[i++] = mean + x * f;
      if (i < n) out[i++] = mean + y * f;
    }
    this.s0 = a;
    this.s1 = b;
    this.s2 = c;
    this.s3 = d;
  }
}
