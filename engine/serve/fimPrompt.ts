// Fill-in-the-middle prompts, laid out prefix-suffix-middle (PSM, the order DeepSeek-Coder-V2 is trained on):
//   [bos] <fim-begin> prefix <fim-hole> suffix <fim-end>
// The three markers are read from the model's tokenizer (its added tokens), never hard-coded as ids.
import { HttpError } from './httpError';

export interface FimTokens {
  /** DeepSeek's <｜fim▁begin｜>; <|fim_prefix|> / <fim_prefix> in other families. */
  begin: number;
  /** DeepSeek's <｜fim▁hole｜>; <|fim_suffix|> elsewhere. */
  hole: number;
  /** DeepSeek's <｜fim▁end｜>; <|fim_middle|> elsewhere. */
  end: number;
}

const MARKER_PATTERNS: Record<keyof FimTokens, RegExp> = {
  begin: /fim[▁_ -]?(begin|prefix)/i,
  hole: /fim[▁_ -]?(hole|suffix)/i,
  end: /fim[▁_ -]?(end|middle)/i,
};

/** Finds the FIM markers among the tokenizer's added tokens; undefined when the model has none. */
export function findFimTokens(addedTokens: ReadonlyMap<string, number>): FimTokens | undefined {
  const found: Partial<FimTokens> = {};
  for (const [content, id] of addedTokens) {
    for (const role of Object.keys(MARKER_PATTERNS) as (keyof FimTokens)[]) {
      if (found[role] === undefined && MARKER_PATTERNS[role].test(content)) found[role] = id;
    }
  }
  return found.begin !== undefined && found.hole !== undefined && found.end !== undefined
    ? (found as FimTokens) : undefined;
}

/** Prefix and suffix are encoded apart and spliced, so that no text can forge a marker. */
export function fimPromptTokens(
  fim: FimTokens | undefined, bos: number | undefined, prefix: number[], suffix: number[],
): number[] {
  if (!fim) {
    throw new HttpError(400, "This model's tokenizer has no fill-in-the-middle tokens, so 'suffix' cannot be used",
      'invalid_request_error', 'suffix', 'fim_unsupported');
  }
  return [...(bos === undefined ? [] : [bos]), fim.begin, ...prefix, fim.hole, ...suffix, fim.end];
}
