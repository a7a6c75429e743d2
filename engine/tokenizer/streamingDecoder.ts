// Turns a stream of token ids into a stream of text pieces. A token can end in the middle of a UTF-8 character
// (the decoder then shows U+FFFD), so text is only released once it is complete.
import type { ModelTokenizer } from './modelTokenizer';

export class StreamingDecoder {
  private tokens: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;

  constructor(private readonly tokenizer: ModelTokenizer) {}

  /** Adds a token; returns the text it completes ('' while a character is still incomplete). */
  push(token: number): string {
    this.tokens.push(token);
    const before = this.tokenizer.decode(this.tokens.slice(this.prefixOffset, this.readOffset));
    const after = this.tokenizer.decode(this.tokens.slice(this.prefixOffset));
    if (after.length > before.length && !after.endsWith('\uFFFD')) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.tokens.length;
      return after.slice(before.length);
    }
    return '';
  }

  /** Whatever text is still held back at the end of the stream. */
  flush(): string {
    const before = this.tokenizer.decode(this.tokens.slice(this.prefixOffset, this.readOffset));
    const after = this.tokenizer.decode(this.tokens.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.tokens.length;
    return after.slice(before.length);
  }
}
