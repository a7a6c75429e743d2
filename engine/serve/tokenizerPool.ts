// Serve's one way from text to tokens and back: the model's tokenizer in worker threads, so that tokenizing a
// huge prompt never stalls the event loop (other requests' tokens, /health). A text with more bytes than the limit
// times the longest token could cover is refused before any encoding; a longer text is cut short in the worker
// (tokenizerWorker.ts) as soon as it is certain to pass the limit.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

export type TokenizerRequest =
  | { id: number; op: 'encode'; text: string; limit: number }
  | { id: number; op: 'decode'; ids: number[]; skipSpecial: boolean };

export type TokenizerReply =
  | { id: number; ids: number[] }
  | { id: number; tokensAtLeast: number }
  | { id: number; text: string }
  | { id: number; error: string };

/** A text that has more tokens than the limit it was encoded against; `tokensAtLeast` is what is certain. */
export class TextTooLong extends Error {
  constructor(readonly tokensAtLeast: number, readonly limit: number) {
    super(`the text is at least ${tokensAtLeast} tokens, more than the ${limit} allowed`);
    this.name = 'TextTooLong';
  }
}

interface PooledWorker {
  worker: Worker;
  pending: Map<number, { resolve: (reply: TokenizerReply) => void; reject: (e: Error) => void }>;
}

export class TokenizerPool {
  private readonly workers: PooledWorker[] = [];
  private nextId = 0;
  private closed = false;

  /** `maxTokenBytes`: the most bytes of text one token stands for (ModelTokenizer.maxTokenBytes). */
  constructor(private readonly modelDir: string, private readonly maxTokenBytes: number, size = 2) {
    for (let i = 0; i < size; i++) this.workers.push(this.spawn());
  }

  /** Token ids of `text` (no special tokens added); rejects with TextTooLong past `limit` tokens. */
  async encode(text: string, limit = Number.MAX_SAFE_INTEGER): Promise<number[]> {
    const bytes = Buffer.byteLength(text);
    if (bytes > limit * this.maxTokenBytes) throw new TextTooLong(Math.ceil(bytes / this.maxTokenBytes), limit);
    const reply = await this.send({ id: this.nextId++, op: 'encode', text, limit });
    if ('tokensAtLeast' in reply) throw new TextTooLong(reply.tokensAtLeast, limit);
    return (reply as { ids: number[] }).ids;
  }

  async decode(ids: number[], options: { skipSpecial?: boolean } = {}): Promise<string> {
    const reply = await this.send({ id: this.nextId++, op: 'decode', ids, skipSpecial: options.skipSpecial ?? true });
    return (reply as { text: string }).text;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private send(request: TokenizerRequest): Promise<TokenizerReply> {
    if (this.closed) return Promise.reject(new Error('the tokenizer pool is closed'));
    // The least busy worker: a small prompt does not queue behind a huge one.
    const target = this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    return new Promise<TokenizerReply>((resolve, reject) => {
      target.pending.set(request.id, { resolve, reject });
      target.worker.postMessage(request);
    }).then((reply) => {
      if ('error' in reply) throw new Error(`tokenizer of ${this.modelDir}: ${reply.error}`);
      return reply;
    });
  }

  private spawn(): PooledWorker {
    const worker = new Worker(path.join(__dirname, 'tokenizerWorker.js'), { workerData: { modelDir: this.modelDir } });
    const pooled: PooledWorker = { worker, pending: new Map() };
    // Idle workers must not keep the process alive after the server closes.
    worker.unref();
    worker.on('message', (reply: TokenizerReply) => {
      const waiter = pooled.pending.get(reply.id);
      pooled.pending.delete(reply.id);
      waiter?.resolve(reply);
    });
    const fail = (e: Error): void => {
      for (const waiter of pooled.pending.values()) waiter.reject(new Error(`tokenizer of ${this.modelDir}: ${e.message}`));
      pooled.pending.clear();
      if (this.closed) return;
      // A worker that died (out of memory on a pathological text) is replaced; the server goes on.
      const index = this.workers.indexOf(pooled);
      if (index >= 0) this.workers[index] = this.spawn();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => { if (!this.closed) fail(new Error(`worker exited with ${code}`)); });
    return pooled;
  }
}
