// Line ranges the user recently edited or looked at, most recent kept, nearby ones merged. Line numbers follow
// later edits (lines inserted above a range move it down) so a range keeps pointing at the same code.

export interface LineRange { uri: string; startLine: number; endLine: number }

export class RecentRanges {
  private ranges: LineRange[] = [];

  /** @param capacity ranges kept; @param radius lines of context added on each side of a recorded line range */
  constructor(private readonly capacity = 8, private readonly radius = 3) {}

  record(uri: string, startLine: number, endLine: number): void {
    const range = { uri, startLine: Math.max(0, startLine - this.radius), endLine: endLine + this.radius };
    const merged = this.ranges.filter((r) => r.uri === uri && r.startLine <= range.endLine + 1 && r.endLine >= range.startLine - 1);
    for (const r of merged) {
      range.startLine = Math.min(range.startLine, r.startLine);
      range.endLine = Math.max(range.endLine, r.endLine);
    }
    this.ranges = this.ranges.filter((r) => !merged.includes(r));
    this.ranges.push(range);
    if (this.ranges.length > this.capacity) this.ranges.shift();
  }

  /** Lines were inserted (delta > 0) or removed (delta < 0) at `line` of `uri`. */
  shift(uri: string, line: number, delta: number): void {
    if (delta === 0) return;
    for (const r of this.ranges) {
      if (r.uri !== uri || r.endLine < line) continue;
      if (r.startLine > line) r.startLine = Math.max(line, r.startLine + delta);
      r.endLine = Math.max(r.startLine, r.endLine + delta);
    }
  }

  forget(uri: string): void {
    this.ranges = this.ranges.filter((r) => r.uri !== uri);
  }

  /** Most recent last. */
  list(): readonly LineRange[] {
    return this.ranges;
  }
}
