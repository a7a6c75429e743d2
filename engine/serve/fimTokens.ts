// Fill-in-the-middle prompts, laid out prefix-suffix-middle (PSM, the order DeepSeek-Coder-V2 is trained on):
//   [bos] <fim-begin> prefix <fim-hole> suffix <fim-end>
// The three markers' ids come from the model folder's tokenizer (engine/tokenizer), never hard-coded.

export interface FimTokens {
  /** <｜fim▁begin｜> */
  begin: number;
  /** <｜fim▁hole｜> */
  hole: number;
  /** <｜fim▁end｜> */
  end: number;
}

/** Prefix and suffix are encoded apart and the marker ids spliced between them, exactly as the model was trained. */
export function fimPromptTokens(fim: FimTokens, bos: number | undefined, prefix: number[], suffix: number[]): number[] {
  return [...(bos === undefined ? [] : [bos]), fim.begin, ...prefix, fim.hole, ...suffix, fim.end];
}
