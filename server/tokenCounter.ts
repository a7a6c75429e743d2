// Token counts of prompt text, exact by the engine's own tokenizer (its /tokenize), cached per line so that a
// keystroke costs tokenizing the few characters around the cursor, not the file. DeepSeek's tokenizer isolates
// every \r and \n before anything else, so a text's count is the sum of its lines' counts plus one per line
// break; that is checked on the engine once. Engines that cannot count (no /tokenize, or another tokenizer)
// get the 3-characters-a-token estimate, and the log says which.
//
// Counting is synchronous (prompt builders call it in loops): a line not yet known is estimated and noted;
// `fetchMissing` then tokenizes all noted lines in one request, and the caller builds again.
import { EngineError } from './engineErrors';
import { FIM_BEGIN, FIM_END, FIM_HOLE } from './fimPrompt';
import { estimateTokens } from './tokenEstimate';

/** What the counter needs of an engine: its tokenizer, or undefined when the engine has none to offer. */
export interface Tokenizer {
  tokenize(text: string, signal?: AbortSignal, addSpecial?: boolean): Promise<number[] | undefined>;
  readonly baseUrl: string;
}

export type CountingMode = 'unknown' | 'exact' | 'estimate';

/** Lines whose counts are kept (a few MB; repeated lines such as `}` are one entry). */
const MAX_CACHED_LINES = 200_000;
const LINE_BREAK = /[\r\n]/;
/** Characters of text one /tokenize request carries at most (a longer line goes alone). */
const BATCH_CHARS = 4096;
/** The count of a line the engine would not tokenize (longer than its context): more than any budget. */
const LINE_TOO_LONG = 1e9;
/** Line breaks of several kinds, leading and trailing spaces: where a tokenizer that does not isolate breaks differs. */
const PROBE = 'if (x) {\r\n  y = 1; \n\n\tz("a b")\n}';

export class TokenCounter {
  private readonly lines = new Map<string, number>();
  private readonly missing = new Set<string>();
  private probing: Promise<void> | undefined;
  mode: CountingMode = 'unknown';
  /** Tokens the engine puts around a FIM prompt's text (bos and the three markers); assumed 4 until counted. */
  fimMarkerTokens = 4;
  /** Tokens the engine puts before a plain prompt's text (bos); assumed 1 until counted. */
  plainMarkerTokens = 1;

  constructor(private readonly tokenizer: Tokenizer, private readonly log: (message: string) => void) {}

  /** True when counts are the engine's own (after `ready`). */
  get exact(): boolean { return this.mode === 'exact'; }

  /** Settles the mode once: asks the engine whether it counts, and whether lines add up on its tokenizer. */
  ready(signal?: AbortSignal): Promise<void> {
    if (this.mode !== 'unknown') return Promise.resolve();
    this.probing ??= this.probe(signal).finally(() => { this.probing = undefined; });
    return this.probing;
  }

  /** Tokens of `text` (no special tokens added); lines not yet known are estimated and noted for `fetchMissing`. */
  count(text: string): number {
    if (this.mode !== 'exact') return estimateTokens(text);
    let total = 0;
    let start = 0;
    for (let i = 0; i <= text.length; i++) {
      if (i < text.length && text[i] !== '\n' && text[i] !== '\r') continue;
      if (i > start) total += this.lineCount(text.slice(start, i));
      if (i < text.length) total += 1;
      start = i + 1;
    }
    return total;
  }

  /** Lines counted by estimate since the last fetch. */
  get missingLines(): number { return this.missing.size; }

  /**
   * Tokenizes every noted line, a few kilobytes per request (joined by line breaks, split again at them); the
   * requests go out together.
   */
  async fetchMissing(signal?: AbortSignal): Promise<void> {
    if (this.missing.size === 0 || this.mode !== 'exact') return;
    const lines = [...this.missing];
    this.missing.clear();
    if (this.lines.size + lines.length > MAX_CACHED_LINES) this.lines.clear();
    await Promise.all(batches(lines).map((batch) => this.countBatch(batch, signal)));
  }

  private async countBatch(lines: string[], signal?: AbortSignal): Promise<void> {
    let ids: number[] | undefined;
    try {
      ids = await this.tokenizer.tokenize(lines.join('\n'), signal);
    } catch (e) {
      // An engine refuses text longer than its context: such a line can never be part of a prompt.
      if (!(e instanceof EngineError && e.status === 400)) throw e;
      if (lines.length === 1) this.lines.set(lines[0], LINE_TOO_LONG);
      else await Promise.all(lines.map((line) => this.countBatch([line], signal)));
      return;
    }
    const counts = ids && splitCounts(ids, this.newlineId!, lines.length);
    if (!counts) {
      this.fallBack(`${this.tokenizer.baseUrl} stopped counting as it did`);
      return;
    }
    lines.forEach((line, i) => this.lines.set(line, counts[i]));
  }

  private newlineId: number | undefined;

  private lineCount(line: string): number {
    const known = this.lines.get(line);
    if (known !== undefined) return known;
    this.missing.add(line);
    return estimateTokens(line);
  }

  private async probe(signal?: AbortSignal): Promise<void> {
    let newline: number[] | undefined;
    let whole: number[] | undefined;
    try {
      [newline, whole] = await Promise.all([this.tokenizer.tokenize('\n', signal), this.tokenizer.tokenize(PROBE, signal)]);
    } catch (e) {
      // A /tokenize that refuses our requests counts as none; an engine that is unreachable or refuses the key
      // fails this request, and the next one asks again.
      if (!(e instanceof EngineError && (e.kind === 'bad-response' || (e.kind === 'http' && !REQUEST_FAULTS.includes(e.status!))))) throw e;
      this.fallBack(`${this.tokenizer.baseUrl}'s /tokenize does not take our requests: ${e.message}`);
      return;
    }
    if (!newline || !whole) {
      this.fallBack(`${this.tokenizer.baseUrl} has no /tokenize`);
      return;
    }
    const pieces = PROBE.split(LINE_BREAK).filter((p) => p !== '');
    const counted = await Promise.all(pieces.map((p) => this.tokenizer.tokenize(p, signal)));
    const breaks = PROBE.length - PROBE.replace(/[\r\n]/g, '').length;
    const additive = newline.length === 1 && counted.every((c) => c !== undefined) &&
      counted.reduce((n, c) => n + c!.length, 0) + breaks === whole.length;
    if (!additive) {
      this.fallBack(`the tokenizer of ${this.tokenizer.baseUrl} does not split at line breaks, so counts cannot be cached per line`);
      return;
    }
    this.newlineId = newline[0];
    const markers = await this.tokenizer.tokenize(FIM_BEGIN + FIM_HOLE + FIM_END, signal, true);
    if (markers) this.fimMarkerTokens = markers.length;
    const bos = await this.tokenizer.tokenize('', signal, true);
    if (bos) this.plainMarkerTokens = bos.length;
    this.mode = 'exact';
    this.log(`token counts: exact, by the engine's tokenizer (${new URL(this.tokenizer.baseUrl).origin}/tokenize), cached per line`);
  }

  private fallBack(why: string): void {
    this.mode = 'estimate';
    this.missing.clear();
    this.log(`token counts: estimated at 3 characters a token (${why})`);
  }
}

/** Statuses that say nothing about /tokenize itself: the key, the rate, a busy engine. */
const REQUEST_FAULTS = [401, 403, 408, 429, 503];

/** Lines in groups of at most BATCH_CHARS characters (a longer line alone). */
function batches(lines: string[]): string[][] {
  const out: string[][] = [];
  let chars = Infinity;
  for (const line of lines) {
    if (chars + line.length + 1 > BATCH_CHARS) {
      out.push([]);
      chars = 0;
    }
    out[out.length - 1].push(line);
    chars += line.length + 1;
  }
  return out;
}

/** Token counts of `expected` lines from the ids of the lines joined by '\n' (undefined when they do not split so). */
function splitCounts(ids: number[], newlineId: number, expected: number): number[] | undefined {
  const counts: number[] = [0];
  for (const id of ids) {
    if (id === newlineId) counts.push(0);
    else counts[counts.length - 1]++;
  }
  return counts.length === expected ? counts : undefined;
}
