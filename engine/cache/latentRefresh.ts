// Background refresh: while no request waits (a typing pause), derived latents are recomputed exactly, so that the
// completion after the pause starts from an exact cache. One job at a time: the most recently used sequence holding
// derived latents is run as an exact request (its exact prefix adopted, the rest computed) in chunks of a few
// tokens, one chunk per idle turn of the event loop; when done, the tree's insert puts the exact pages in place of
// the derived ones. A new request pre-empts the job at once (it is dropped with what it held): its sequence is
// about to be superseded anyway, and the request must not wait for it.
import { PoolExhaustedError } from './latentPool';
import type { ComputeTokens, PreparedPrompt, PromptCache } from './promptCache';

export interface RefreshJob {
  tokens: number[];
  prepared: PreparedPrompt;
  pending: number[];
}

export class LatentRefresher {
  private job: RefreshJob | null = null;
  /** The last sequence refreshed to the end: never taken again in a row (no idle loop over the same work). */
  private lastRefreshed = '';
  /** Sequences refreshed to the end, and jobs dropped (pre-empted, or no room in the pool). */
  readonly counts = { refreshed: 0, dropped: 0 };

  constructor(private readonly cache: PromptCache,
    private readonly compute: ComputeTokens) {}

  get busy(): boolean {
    return this.job !== null;
  }

  /** Pages the job in progress holds (freed or made evictable the moment a request arrives). */
  get pagesHeld(): number {
    return this.job?.prepared.cache.pages.length ?? 0;
  }

  /**
   * Computes at most `chunkTokens` tokens of the current job (starting one if there is derived work); returns
   * false when nothing is left to refresh.
   */
  async step(chunkTokens: number): Promise<boolean> {
    if (!this.job) {
      const tokens = this.cache.tree.latestDerivedSequence();
      if (!tokens || tokens.join() === this.lastRefreshed) return false;
      const prepared = await this.cache.prepare(tokens, () => undefined, { kind: 'exact' });
      this.job = { tokens, prepared, pending: prepared.pending };
    }
    const job = this.job;
    const chunk = job.pending.slice(0, chunkTokens);
    try {
      job.prepared.cache.reserve(chunk.length);
      await this.compute(job.prepared.cache, chunk);
      // A request may have dropped the job while its chunk ran.
      if (this.job !== job) return true;
    } catch (e) {
      this.drop();
      if (e instanceof PoolExhaustedError) return false;
      throw e;
    }
    job.pending = job.pending.slice(chunk.length);
    if (job.pending.length === 0) {
      this.job = null;
      this.lastRefreshed = job.tokens.join();
      this.cache.finish(job.prepared, job.tokens);
      this.counts.refreshed++;
    }
    return true;
  }

  /** Drops the job in progress (a request arrived); nothing it computed is kept. */
  drop(): void {
    if (!this.job) return;
    const job = this.job;
    this.job = null;
    this.counts.dropped++;
    this.cache.abandon(job.prepared);
  }
}
