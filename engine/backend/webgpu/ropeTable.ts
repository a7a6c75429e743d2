// The cos/sin the model's Rope uses at a position, as [cos (half) | sin (half)] f32: read off Rope itself by
// rotating the interleaved unit pairs (1, 0), which gives exactly (cos, sin) (1·c − 0·s = c, 0·c + 1·s = s), so
// the GPU rotates with the CPU's very tables (YaRN's frequencies and multiplier included). Cached per position.
import type { Rope } from '../../model/rope';

const tables = new WeakMap<Rope, Map<number, Float32Array>>();

export function ropeTable(rope: Rope, pos: number): Float32Array {
  let byPos = tables.get(rope);
  if (!byPos) tables.set(rope, (byPos = new Map()));
  let t = byPos.get(pos);
  if (!t) {
    const half = rope.invFreq.length;
    t = new Float32Array(2 * half);
    for (let i = 0; i < half; i++) t[2 * i] = 1;
    rope.applyInterleaved(t, 0, pos);
    if (byPos.size > 1 << 17) byPos.clear();
    byPos.set(pos, t);
  }
  return t;
}
