// A token diff (Myers' O(ND) algorithm): the runs two token sequences have in common, in order, as a longest
// common subsequence aligns them. Edit-aware reuse aligns a new prompt with the cached sequence it was edited
// from, so that text new to the prompt (typed or pasted, even where it also appears elsewhere) is an insertion,
// never a match. Beyond `maxEdits` differences (a different prompt, not an edit) only the common prefix and
// suffix are aligned.

/** old[oldStart, oldStart+length) equals new[newStart, newStart+length). */
export interface AlignedRun {
  oldStart: number;
  newStart: number;
  length: number;
}

export const MAX_DIFF_EDITS = 256;

export function alignTokens(old: readonly number[], now: readonly number[], maxEdits = MAX_DIFF_EDITS): AlignedRun[] {
  // The common prefix and suffix first: most edits are one change, and they keep the search small.
  let head = 0;
  while (head < old.length && head < now.length && old[head] === now[head]) head++;
  let tail = 0;
  while (tail < old.length - head && tail < now.length - head && old[old.length - 1 - tail] === now[now.length - 1 - tail]) tail++;
  const middle = myers(old, head, old.length - tail, now, head, now.length - tail, maxEdits)
    ?? [];
  const runs: AlignedRun[] = [];
  const push = (r: AlignedRun) => {
    if (r.length === 0) return;
    const last = runs[runs.length - 1];
    if (last && last.oldStart + last.length === r.oldStart && last.newStart + last.length === r.newStart) last.length += r.length;
    else runs.push({ ...r });
  };
  push({ oldStart: 0, newStart: 0, length: head });
  for (const r of middle) push(r);
  push({ oldStart: old.length - tail, newStart: now.length - tail, length: tail });
  return runs;
}

/** The common runs of a[a0, a1) and b[b0, b1), or null past `maxEdits` insertions and deletions. */
function myers(a: readonly number[], a0: number, a1: number, b: readonly number[], b0: number, b1: number,
  maxEdits: number): AlignedRun[] | null {
  const n = a1 - a0, m = b1 - b0;
  if (n === 0 || m === 0) return [];
  const max = Math.min(n + m, maxEdits);
  const offset = max + 1;
  const v = new Int32Array(2 * max + 3);
  // trace[d] is v after step d, restricted to diagonals -d..d (O(D²) memory).
  const trace: Int32Array[] = [];
  for (let d = 0; d <= max; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[a0 + x] === b[b0 + y]) {
        x++;
        y++;
      }
      v[offset + k] = x;
      if (x >= n && y >= m) {
        trace.push(v.slice(offset - d, offset + d + 1));
        return backtrack(trace, n, m, a0, b0);
      }
    }
    trace.push(v.slice(offset - d, offset + d + 1));
  }
  return null;
}

function backtrack(trace: Int32Array[], n: number, m: number, a0: number, b0: number): AlignedRun[] {
  const runs: AlignedRun[] = [];
  let x = n, y = m;
  for (let d = trace.length - 1; d >= 0; d--) {
    const at = (vd: Int32Array, dd: number, k: number) => vd[k + dd];
    const k = x - y;
    let prevK: number;
    if (d === 0) prevK = 0;
    else {
      const prev = trace[d - 1];
      prevK = k === -d || (k !== d && at(prev, d - 1, k - 1) < at(prev, d - 1, k + 1)) ? k + 1 : k - 1;
    }
    const prevX = d === 0 ? 0 : at(trace[d - 1], d - 1, prevK);
    const prevY = prevX - prevK;
    // The snake: from the end of the previous step's move to (x, y) along the diagonal.
    const startX = d === 0 ? 0 : prevK === k + 1 ? prevX : prevX + 1;
    const startY = startX - k;
    if (x > startX) runs.push({ oldStart: a0 + startX, newStart: b0 + startY, length: x - startX });
    x = prevX;
    y = prevY;
  }
  return runs.reverse();
}
