// The token diff aligns as a longest common subsequence does: checked against dynamic programming on random edits.
import * as assert from 'node:assert/strict';
import { alignTokens } from '../../engine/cache/tokenDiff';

function lcsLength(a: number[], b: number[]): number {
  let prev = new Array(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const row = [0];
    for (let j = 1; j <= b.length; j++) row.push(a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], row[j - 1]));
    prev = row;
  }
  return prev[b.length];
}

describe('token diff', () => {
  it('finds a longest common subsequence, as ordered runs of equal tokens', async () => {
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let trial = 0; trial < 300; trial++) {
      const a = Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 4));
      const b = [...a];
      for (let e = Math.floor(rand() * 6); e > 0; e--) {
        const at = Math.floor(rand() * (b.length + 1));
        if (rand() < 0.5) b.splice(at, 1 + Math.floor(rand() * 3));
        else b.splice(at, 0, ...Array.from({ length: 1 + Math.floor(rand() * 4) }, () => Math.floor(rand() * 4)));
      }
      const runs = alignTokens(a, b);
      let lastA = 0, lastB = 0, total = 0;
      for (const r of runs) {
        assert.ok(r.oldStart >= lastA && r.newStart >= lastB && r.length > 0, `runs out of order: ${JSON.stringify(runs)}`);
        for (let i = 0; i < r.length; i++) assert.equal(a[r.oldStart + i], b[r.newStart + i]);
        lastA = r.oldStart + r.length;
        lastB = r.newStart + r.length;
        total += r.length;
      }
      assert.equal(total, lcsLength(a, b), `trial ${trial}: not a longest common subsequence`);
    }
  });

  it('past the edit limit, aligns the common prefix and suffix only', async () => {
    const a = [1, 2, 3, ...Array.from({ length: 50 }, (_, i) => 10 + i), 8, 9];
    const b = [1, 2, 3, ...Array.from({ length: 50 }, (_, i) => 100 + i), 8, 9];
    assert.deepEqual(alignTokens(a, b, 10), [{ oldStart: 0, newStart: 0, length: 3 }, { oldStart: 53, newStart: 53, length: 2 }]);
  });
});
