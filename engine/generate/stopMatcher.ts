// Stop strings over streamed text: text is released only when it can no longer be the start of a stop string,
// and generation ends before the first stop string.

export class StopMatcher {
  private held = '';
  stopped = false;

  constructor(private readonly stops: string[]) {}

  /** Feeds new text; returns the part that is safe to release. */
  push(text: string): string {
    if (this.stopped) return '';
    this.held += text;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.held.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      const out = this.held.slice(0, cut);
      this.held = '';
      return out;
    }
    // Hold back the longest tail that is a prefix of some stop string.
    let keep = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.held.length); k > keep; k--) {
        if (this.held.endsWith(s.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    const out = this.held.slice(0, this.held.length - keep);
    this.held = this.held.slice(this.held.length - keep);
    return out;
  }

  /** Releases what is held at the end of generation. */
  flush(): string {
    const out = this.stopped ? '' : this.held;
    this.held = '';
    return out;
  }
}
