// Token healing: a prompt that ends mid-token (e.g. a bare "\n", where the tokenizer would have written "\n    "
// had the text gone on, or "const tot" at a cursor inside a word) puts the model where training seldom did, and it
// often answers nothing. So the token the answer continues is taken back, and the first generated token must begin
// with its text: the model re-chooses the boundary. The text the healed token gave back is then not repeated in
// the answer. The answer continues the prompt's last token, or in a fill-in-the-middle prompt the prefix's last
// token: the one before the hole marker.
import type { ModelTokenizer } from '../tokenizer/modelTokenizer';

export interface Healing {
  /** The text of the prompt token taken back: the answer's first token begins with it, and it is not echoed. */
  text: string;
  /** Token ids whose text begins with `text`: the only ones the first step may pick. */
  allowed: Int32Array;
}

export class TokenHealer {
  /** Every ordinary token's text, sorted, for prefix ranges by binary search (built on first use). */
  private sorted: { text: string; id: number }[] | null = null;

  constructor(private readonly tokenizer: ModelTokenizer) {}

  /** The prompt without the token its answer continues and the healing to apply, or null when it needs none. */
  heal(prompt: readonly number[]): { prompt: number[]; healing: Healing } | null {
    const at = this.continuedToken(prompt);
    if (at < 1) return null;
    // Special tokens (FIM markers, chat roles) and bytes of a split character are boundaries already.
    const text = this.tokenizer.decode([prompt[at]]);
    if (text === '' || text.includes('\uFFFD')) return null;
    const allowed = this.tokensStartingWith(text);
    // Only the token itself begins with its text: nothing to re-choose.
    if (allowed.length <= 1) return null;
    return { prompt: [...prompt.slice(0, at), ...prompt.slice(at + 1)], healing: { text, allowed } };
  }

  /** Index of the token the answer continues: the last, or the one before a FIM prompt's hole marker. */
  private continuedToken(prompt: readonly number[]): number {
    const fim = this.tokenizer.special.fim;
    const hole = fim ? prompt.indexOf(fim.hole) : -1;
    return hole >= 0 ? hole - 1 : prompt.length - 1;
  }

  private tokensStartingWith(prefix: string): Int32Array {
    const sorted = this.vocabulary();
    let lo = 0, hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid].text < prefix) lo = mid + 1;
      else hi = mid;
    }
    const ids: number[] = [];
    for (let i = lo; i < sorted.length && sorted[i].text.startsWith(prefix); i++) ids.push(sorted[i].id);
    return Int32Array.from(ids);
  }

  private vocabulary(): { text: string; id: number }[] {
    if (!this.sorted) {
      const entries: { text: string; id: number }[] = [];
      for (let id = 0; id < this.tokenizer.vocabSize; id++) {
        const text = this.tokenizer.decode([id]);
        if (text !== '') entries.push({ text, id });
      }
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
