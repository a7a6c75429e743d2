// The text a stream may show so far: generated text minus any tail that could still turn out to be the start of
// a stop string (a stop string is never shown, not even in part). The final text comes from the engine's result.
export class StreamedText {
  private generated = '';
  private shown = 0;

  constructor(private readonly stop: string[]) {}

  /** Adds new text; returns the part that is now safe to show ('' if none). */
  push(text: string): string {
    this.generated += text;
    let safeEnd = this.generated.length;
    for (const s of this.stop) {
      const found = this.generated.indexOf(s, Math.max(0, this.shown - s.length + 1));
      if (found >= 0) safeEnd = Math.min(safeEnd, found);
      // Longest tail of the text that is a proper prefix of s.
      for (let k = Math.min(s.length - 1, this.generated.length); k > 0; k--) {
        if (this.generated.endsWith(s.slice(0, k))) {
          safeEnd = Math.min(safeEnd, this.generated.length - k);
          break;
        }
      }
    }
    if (safeEnd <= this.shown) return '';
    const out = this.generated.slice(this.shown, safeEnd);
    this.shown = safeEnd;
    return out;
  }

  /** What remains to show of the final text (the engine's result, which has the stop string cut off). */
  finish(finalText: string): string {
    const rest = finalText.length > this.shown ? finalText.slice(this.shown) : '';
    this.shown = Math.max(this.shown, finalText.length);
    return rest;
  }
}
