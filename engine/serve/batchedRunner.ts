// Continuous batching on the engine: every admitted sequence joins the running batch at the next step, and each
// step is one forward pass over the pending tokens of all of them (a new request's prompt rides along with the
// others' single decode tokens). Between steps the event loop runs, so new arrivals, client disconnects
// (aborts, honoured by the engine at its next step) and socket writes all happen within one step.
import type { GenerationDelta, GenerationRequest, GenerationResult } from '../api';
import type { Engine } from '../engine';
import type { Sequence } from '../generate/sequence';
import type { GenerationRunner } from './scheduler';

interface Running {
  sequence: Sequence;
  resolve: (result: GenerationResult) => void;
  reject: (error: unknown) => void;
}

interface Arriving {
  request: GenerationRequest;
  onDelta: (delta: GenerationDelta) => void;
  resolve: (result: GenerationResult) => void;
  reject: (error: unknown) => void;
}

export interface BatchedRunnerOptions {
  /**
   * Tokens per chunk of background refresh (derived latents recomputed exactly while nothing runs, one chunk per
   * idle turn of the event loop, so a new request waits at most one chunk); 0 turns the refresh off.
   */
  refreshChunkTokens: number;
}

/**
 * One loop owns the engine: it starts arriving sequences, steps the batch and refreshes while idle, one thing at
 * a time, so the latent cache never sees two of them interleaved across the engine's awaits.
 */
export class BatchedRunner implements GenerationRunner {
  private readonly arriving: Arriving[] = [];
  private readonly running: Running[] = [];
  private looping = false;
  private refreshing: Promise<void> | null = null;

  constructor(private readonly engine: Engine, private readonly options: BatchedRunnerOptions = { refreshChunkTokens: 64 }) {}

  /** Sequences in the batch now (their caches are held until they finish). */
  get sequences(): readonly Sequence[] {
    return this.running.map((r) => r.sequence);
  }

  run(request: GenerationRequest, onDelta: (delta: GenerationDelta) => void): Promise<GenerationResult> {
    // A prompt the model cannot take is refused at once, before anything is held.
    try {
      this.engine.checkRequest(request);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<GenerationResult>((resolve, reject) => {
      this.arriving.push({ request, onDelta, resolve, reject });
      if (!this.looping) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.looping = true;
    try {
      // The refresh chunk in progress ends first (a new request drops its job when it starts).
      await this.refreshing;
      // Requests that arrived together start together.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.running.length > 0 || this.arriving.length > 0) {
        for (const a of this.arriving.splice(0)) {
          try {
            this.running.push({ sequence: await this.engine.startSequence(a.request, a.onDelta), resolve: a.resolve, reject: a.reject });
          } catch (e) {
            a.reject(e);
          }
        }
        if (this.running.length === 0) continue;
        try {
          await this.engine.step(this.running.map((r) => r.sequence));
        } catch (e) {
          // A failed step leaves every cache of the batch in doubt: each sequence ends with the error (which
          // releases its pages and locks without caching them) and its request is rejected.
          for (const r of this.running.splice(0)) {
            if (!r.sequence.done) r.sequence.finish('error', `the step failed: ${(e as Error).message}`);
            r.reject(e);
          }
          continue;
        }
        for (let i = this.running.length - 1; i >= 0; i--) {
          const r = this.running[i];
          if (r.sequence.done) {
            this.running.splice(i, 1);
            r.resolve(r.sequence.result());
          }
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.looping = false;
      this.refreshWhileIdle();
    }
  }

  /** Refreshes one chunk per idle turn until a request arrives or nothing derived is left. */
  private refreshWhileIdle(): void {
    if (this.refreshing || this.options.refreshChunkTokens <= 0) return;
    const idle = () => this.running.length === 0 && this.arriving.length === 0 && !this.looping;
    this.refreshing = (async () => {
      for (;;) {
        await new Promise((resolve) => setImmediate(resolve));
        if (!idle()) break;
        try {
          if (!(await this.engine.refreshIdle(this.options.refreshChunkTokens))) break;
        } catch (e) {
          console.error('latent serve: background refresh failed (its job was dropped):', e);
          break;
        }
      }
    })().finally(() => {
      this.refreshing = null;
    });
  }
}
