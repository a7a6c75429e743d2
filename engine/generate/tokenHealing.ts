// Token healing: a prompt that ends mid-token (e.g. a bare "\n", where the tokenizer would have written "\n    "
// had the text gone on, or "const defa" at a cursor inside a word) puts the model where training seldom did, and
// it often answers nothing or the wrong word. So the tokens the answer continues are taken back and the model
// re-chooses the boundary: its answer must begin with their text. The answer continues the prompt's last token,
// or in a fill-in-the-middle prompt the prefix's last token: the one before the hole marker.
//
// A word the cursor cut is often spelled in two or three tokens (" def" "a") where the whole word is one
// (" default"): the tokens are taken back while some token of the vocabulary begins with the text taken back
// (llama.cpp's "dynamic multi-token" healing). Each step may then pick a token that begins with the text still
// owed, or the prompt's own next token (the way the tokenizer spelled it, which leaves the rest for the next step):
// not any shorter token, whose probability sums every word it begins and leads the model off its training
// distribution (" m" then "e" for " message"). The owed text is not echoed in the answer.
import type { ModelTokenizer } from '../tokenizer/modelTokenizer';

/** At most this many prompt tokens are taken back (a word, not a line). */
export const MAX_HEALED_TOKENS = 6;

/** One sequence's healing in progress: the prompt tokens taken back and those the answer has yet to write. */
export class Healing {
  /** The text of the prompt tokens taken back: the answer begins with it, and it is not echoed. */
  readonly text: string;
  /** How many prompt tokens were taken back. */
  readonly tokens: number;
  /** The tokens taken back whose text the answer has not written yet. */
  private owed: number[];

  constructor(private readonly healer: TokenHealer, takenBack: readonly number[]) {
    this.owed = [...takenBack];
    this.tokens = takenBack.length;
    this.text = takenBack.map((id) => healer.tokenText(id)).join('');
  }

  /** Whether the next pick is still constrained. */
  get active(): boolean {
    return this.owed.length > 0;
  }

  /** Token ids the next step may pick: those that begin with the owed text, and the next owed token itself. */
  allowed(): Int32Array {
    const ids = this.healer.startingWith(this.owed.map((id) => this.healer.tokenText(id)).join(''));
    if (this.owed.length > 1) ids.push(this.owed[0]);
    return Int32Array.from(ids);
  }

  /** Records the picked token: the next owed token (the rest still owed), or one that writes all that is owed. */
  take(token: number): void {
    if (this.owed.length > 1 && token === this.owed[0]) this.owed.shift();
    else this.owed = [];
  }
}

export class TokenHealer {
  /** Every ordinary token's text, sorted, for prefix ranges by binary search (built on first use). */
  private sorted: { text: string; id: number }[] | null = null;
  /** Each token's text by id ('' for special tokens). */
  private texts: string[] | null = null;

  constructor(private readonly tokenizer: ModelTokenizer) {}

  /** The prompt without the tokens its answer continues and the healing to apply, or null when it needs none. */
  heal(prompt: readonly number[]): { prompt: number[]; healing: Healing } | null {
    const end = this.continuedToken(prompt);
    if (end < 1) return null;
    let text = '', start = -1;
    for (let at = end; at >= 1 && end - at < MAX_HEALED_TOKENS; at--) {
      // Special tokens (FIM markers, chat roles) and bytes of a split character are boundaries already.
      const piece = this.tokenText(prompt[at]);
      if (piece === '' || piece.includes('\uFFFD')) break;
      text = piece + text;
      const extensions = this.startingWith(text, 2).length;
      if (extensions === 0) break;
      // One token alone is worth re-choosing only where another token extends it; a longer run, where any token
      // begins with all of it (that token spells it differently).
      if (at < end || extensions > 1) start = at;
    }
    if (start < 0) return null;
    return {
      prompt: [...prompt.slice(0, start), ...prompt.slice(end + 1)],
      healing: new Healing(this, prompt.slice(start, end + 1)),
    };
  }

  tokenText(id: number): string {
    return this.allTexts()[id] ?? '';
  }

  /** Index of the token the answer continues: the last, or the one before a FIM prompt's hole marker. */
  private continuedToken(prompt: readonly number[]): number {
    const fim = this.tokenizer.special.fim;
    const hole = fim ? prompt.indexOf(fim.hole) : -1;
    return hole >= 0 ? hole - 1 : prompt.length - 1;
  }

  /** The tokens whose text begins with `prefix` (only the first `atMost` of them when given). */
  startingWith(prefix: string, atMost = Infinity): number[] {
    const sorted = this.vocabulary();
    const ids: number[] = [];
    for (let i = this.lowerBound(prefix); i < sorted.length && ids.length < atMost && sorted[i].text.startsWith(prefix); i++) ids.push(sorted[i].id);
    return ids;
  }

  private lowerBound(prefix: string): number {
    const sorted = this.vocabulary();
    let lo = 0, hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid].text < prefix) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private allTexts(): string[] {
    if (!this.texts) {
      this.texts = [];
      for (let id = 0; id < this.tokenizer.vocabSize; id++) this.texts.push(this.tokenizer.decode([id]));
    }
    return this.texts;
  }

  private vocabulary(): { text: string; id: number }[] {
    if (!this.sorted) {
      const entries = this.allTexts().map((text, id) => ({ text, id })).filter((e) => e.text !== '');
      this.sorted = entries.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : a.id - b.id));
    }
    return this.sorted;
  }
}

/** Keeps only the allowed tokens' logits (the rest -Infinity), in a copy. */
export function restrictLogits(logits: Float32Array, allowed: Int32Array): Float32Array {
  const out = new Float32Array(logits.length).fill(-Infinity);
  for (const id of allowed) if (id < logits.length) out[id] = logits[id];
  return out;
}
