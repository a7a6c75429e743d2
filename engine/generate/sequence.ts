// One generation in progress: its latent cache, the tokens still to feed, and what it has produced. The engine
// advances many of these together, one forward pass per step (continuous batching).
import type { FinishReason, GenerationDelta, GenerationRequest, GenerationResult } from '../api';
import type { SamplingPick } from '../backend/backend';
import type { LatentCache } from '../cache/latentCache';
import type { Gap } from '../cache/promptCache';
import type { ModelTokenizer } from '../tokenizer/modelTokenizer';
import { StreamingDecoder } from '../tokenizer/streamingDecoder';
import { pickToken, Sampler } from './sampler';
import { StopMatcher } from './stopMatcher';
import { type Healing, restrictLogits } from './tokenHealing';

export class Sequence {
  /** Tokens to feed in the next forward pass (the prompt's uncached part first, then one token per step). */
  pending: number[];
  readonly generated: number[] = [];
  text = '';
  finishReason: FinishReason | null = null;
  error: string | undefined;
  private readonly sampler: Sampler;
  private readonly decoder: StreamingDecoder | null;
  private readonly stop: StopMatcher;

  constructor(
    readonly request: GenerationRequest,
    readonly cache: LatentCache,
    /** Prompt tokens whose latents came from the cache. */
    readonly cachedTokens: number,
    /** The prompt tokens still to compute (at least the last one). */
    pending: number[],
    tokenizer: ModelTokenizer | null,
    private readonly eos: number | null,
    private readonly onDelta?: (d: GenerationDelta) => void,
    /** Called once when the sequence ends, however it ends (the engine releases the cache there). */
    private readonly onFinish?: (s: Sequence) => void,
    /** Token healing of the prompt's last tokens: constrains the first picks; their text is not echoed. */
    private readonly healing: Healing | null = null,
    /** Gaps between the prompt's reused runs, in slots the cache holds: computed in the first step, beside `pending`. */
    public gaps: Gap[] = [],
  ) {
    this.pending = pending;
    this.sampler = new Sampler(request.sampling);
    this.decoder = tokenizer ? new StreamingDecoder(tokenizer) : null;
    this.stop = new StopMatcher(request.stop ?? []);
    this.unechoed = healing?.text ?? '';
    this.healedTokens = healing?.tokens ?? 0;
  }

  /** Prompt tokens taken back by token healing (counted as prompt tokens all the same). */
  private readonly healedTokens: number;

  /** What is left of the healed text to drop from the start of the answer. */
  private unechoed: string;

  get done(): boolean {
    return this.finishReason !== null;
  }

  /** The next token's pick, drawn once from the sampler's stream whichever side samples (so a seed gives the same tokens). */
  private pick: SamplingPick | null = null;

  private nextPick(): SamplingPick {
    return (this.pick ??= this.sampler.nextPick());
  }

  /** The next token's pick for a backend that samples on the device; null when the host picks (token healing's restricted picks). */
  devicePick(): SamplingPick | null {
    return this.healing?.active ? null : this.nextPick();
  }

  /**
   * Takes the next token (sampled on the device by `devicePick`), or else the logits after the last fed token to pick
   * it from here; decides whether to go on.
   */
  accept(next: { logits: Float32Array; token: number | null }): void {
    if (this.done) return;
    if (this.request.signal?.aborted) return this.finish('cancelled');
    const pick = this.nextPick();
    this.pick = null;
    const healing = this.healing?.active ? this.healing : null;
    const token = next.token ?? pickToken(healing ? restrictLogits(next.logits, healing.allowed()) : next.logits, pick);
    healing?.take(token);
    if (token === this.eos) return this.finish('stop');
    this.generated.push(token);
    const piece = this.decoder ? this.stop.push(this.withoutEcho(this.decoder.push(token))) : '';
    this.text += piece;
    this.onDelta?.({ token, text: piece });
    if (this.stop.stopped) return this.finish('stop');
    if (this.generated.length >= this.request.maxTokens) return this.finish('length');
    this.pending = [token];
  }

  /** Drops the healed text from the start of the decoded answer (it may arrive over several pieces). */
  private withoutEcho(piece: string): string {
    if (!this.unechoed) return piece;
    const n = Math.min(piece.length, this.unechoed.length);
    // The first tokens write the healed text, so the decoded answer begins with it.
    this.unechoed = this.unechoed.slice(n);
    return piece.slice(n);
  }

  /** Ends the generation (also used by the caller when its client went away). */
  finish(reason: FinishReason, error?: string): void {
    if (this.done) return;
    this.error = error;
    if (this.decoder && reason !== 'cancelled') {
      const tail = this.stop.push(this.withoutEcho(this.decoder.flush())) + this.stop.flush();
      if (tail) {
        this.text += tail;
        this.onDelta?.({ token: null, text: tail });
      }
    }
    this.finishReason = reason;
    this.pending = [];
    this.onFinish?.(this);
  }

  /** Every token whose latents were computed or reused: the prompt, then the generated tokens fed back. */
  get fedTokens(): number[] {
    return [...this.request.prompt, ...this.generated];
  }

  result(): GenerationResult {
    return {
      tokens: this.generated,
      text: this.text,
      finishReason: this.finishReason ?? 'length',
      promptTokens: this.request.prompt.length + this.healedTokens,
      cachedTokens: this.cachedTokens,
      ...(this.error ? { error: this.error } : {}),
    };
  }
}
