// How long to wait before asking the engine after a keystroke: about as long as the user's usual pause between
// keys while typing (so a request is rarely made mid-word only to be cancelled), between a floor and 4x it.

const HISTORY = 16;
/** Gaps longer than this are pauses, not typing rhythm. */
const PAUSE_MS = 1000;

export class AdaptiveDebounce {
  private lastEdit = 0;
  private gaps: number[] = [];

  constructor(public baseMs = 75) {}

  noteEdit(now = Date.now()): void {
    const gap = now - this.lastEdit;
    this.lastEdit = now;
    if (gap > 0 && gap < PAUSE_MS) {
      this.gaps.push(gap);
      if (this.gaps.length > HISTORY) this.gaps.shift();
    }
  }

  /** Milliseconds to wait now. */
  delayMs(): number {
    if (this.baseMs <= 0) return 0;
    if (this.gaps.length < 3) return this.baseMs;
    const sorted = [...this.gaps].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    return Math.round(Math.min(4 * this.baseMs, Math.max(this.baseMs, 1.2 * median)));
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function waitUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = () => { clearTimeout(timer); resolve(false); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
