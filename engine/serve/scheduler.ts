// The scheduler: which generation runs next. At most `maxBatch` sequences run at once (the runner decodes them
// together); the rest wait in a bounded queue ordered by priority (inline completions, then completions, then
// chat), then by arrival. One place in the batch is kept for inline completions, so that a keystroke's
// completion never waits behind long chats. A full queue is refused at once with 429 so that clients back off
// instead of piling up; a waiting request whose client went away leaves the queue without costing a step.
import type { GenerationDelta, GenerationRequest, GenerationResult } from '../api';
import { PoolExhaustedError } from '../cache/latentPool';
import { HttpError } from './httpError';

/** Runs admitted sequences; a batched runner joins each one to the running batch between decode steps. */
export interface GenerationRunner {
  run(request: GenerationRequest, onDelta: (delta: GenerationDelta) => void): Promise<GenerationResult>;
}

export interface SchedulerLimits {
  maxBatch: number;
  maxQueue: number;
}

/** Lower runs first. Explicit `priority` fields of requests use the same scale. */
export const PRIORITY = { inline: 0, completion: 1, chat: 2 } as const;

interface Waiting {
  priority: number;
  start: () => void;
}

export class Scheduler {
  private readonly waiting: Waiting[] = [];
  private running = 0;
  /** Running sequences that are not inline completions. */
  private runningOthers = 0;
  private draining = false;
  /** Seconds one sequence takes, smoothed, to tell refused clients when to come back. */
  private secondsPerSequence = 1;
  /** Places only inline completions may take (none when the batch has a single place). */
  private readonly reservedForInline: number;

  constructor(private readonly runner: GenerationRunner, private readonly limits: SchedulerLimits) {
    this.reservedForInline = limits.maxBatch > 1 ? 1 : 0;
  }

  get queueDepth(): number {
    return this.waiting.length;
  }

  get runningSequences(): number {
    return this.running;
  }

  /** Refuses new work from now on (503), letting what runs finish. */
  drain(): void {
    this.draining = true;
  }

  /**
   * Throws a 429/503 HttpError at once when `sequences` more cannot be taken. Call before any byte of the answer
   * is sent, then `generate` each sequence.
   */
  admit(sequences: number): void {
    if (this.draining) {
      throw new HttpError(503, 'The server is shutting down', 'server_error', null, 'shutting_down',
        { 'Retry-After': '5' });
    }
    const free = this.limits.maxBatch - this.running;
    if (this.waiting.length + Math.max(0, sequences - free) > this.limits.maxQueue) {
      const waitSeconds = Math.ceil(this.secondsPerSequence * (this.waiting.length + 1) / this.limits.maxBatch);
      throw new HttpError(429, `The server is busy (${this.waiting.length} requests waiting); retry later`,
        'rate_limit_error', null, 'queue_full', { 'Retry-After': String(Math.max(1, waitSeconds)) });
    }
  }

  /** Waits for a place in the batch (by priority), then generates. Aborting while waiting rejects with the reason. */
  async generate(request: GenerationRequest, priority: number,
    onDelta: (delta: GenerationDelta) => void): Promise<GenerationResult> {
    await this.place(priority, request.signal);
    const started = Date.now();
    try {
      return await this.runner.run(request, onDelta);
    } catch (e) {
      // The running requests hold the pool (a request the empty pool could not hold is refused with 400 before
      // this): the retry can succeed once one of them ends, which takes about one sequence's time.
      if (e instanceof PoolExhaustedError) {
        throw new HttpError(503, `The latent cache is full of running requests; retry later (${e.message})`,
          'server_error', null, 'engine_busy', { 'Retry-After': String(Math.max(1, Math.ceil(this.secondsPerSequence))) });
      }
      throw e;
    } finally {
      this.running--;
      if (priority > PRIORITY.inline) this.runningOthers--;
      this.secondsPerSequence = 0.8 * this.secondsPerSequence + 0.2 * ((Date.now() - started) / 1000);
      this.startNext();
    }
  }

  private mayStart(priority: number): boolean {
    if (this.running >= this.limits.maxBatch) return false;
    return priority <= PRIORITY.inline || this.runningOthers < this.limits.maxBatch - this.reservedForInline;
  }

  private take(priority: number): void {
    this.running++;
    if (priority > PRIORITY.inline) this.runningOthers++;
  }

  private place(priority: number, signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    if (this.mayStart(priority) && !this.waiting.some((w) => w.priority <= priority)) {
      this.take(priority);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry: Waiting = {
        priority,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.take(priority);
          resolve();
        },
      };
      const onAbort = (): void => {
        const at = this.waiting.indexOf(entry);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      // Sorted insert: by priority, then arrival (the queue is short; a heap would not pay off).
      let at = this.waiting.findIndex((w) => w.priority > priority);
      if (at < 0) at = this.waiting.length;
      this.waiting.splice(at, 0, entry);
    });
  }

  /** Starts waiting requests in queue order while places allow (a chat may wait while an inline one starts). */
  private startNext(): void {
    for (let i = 0; i < this.waiting.length && this.running < this.limits.maxBatch;) {
      const entry = this.waiting[i];
      if (this.mayStart(entry.priority)) {
        this.waiting.splice(i, 1);
        entry.start();
      } else {
        i++;
      }
    }
  }
}
