// A pool of worker threads drawing random-checkpoint chunks in parallel; results come back as promises, so
// the writer can keep several chunks in flight and still write them in order.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CHUNK_ELEMENTS, ChunkJob, drawChunk } from './randomChunk';

export interface ChunkSource {
  /** Whether draws run in parallel (worth keeping several in flight). */
  readonly parallel: boolean;
  draw(job: ChunkJob): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Draws on the calling thread (small checkpoints, or `threads` 1). */
export function inlineChunkSource(): ChunkSource {
  const scratch = new Float32Array(CHUNK_ELEMENTS);
  return { parallel: false, draw: async (job) => drawChunk(job, scratch), close: async () => {} };
}

export function workerChunkSource(threads: number): ChunkSource {
  const script = path.join(__dirname, 'randomChunkWorker.js');
  const pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void }>();
  let failure: Error | null = null;
  const fail = (e: Error) => {
    failure ??= e;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
  };
  const workers = Array.from({ length: threads }, () => {
    const w = new Worker(script);
    w.on('message', ({ id, bytes }: { id: number; bytes: Uint8Array }) => {
      const p = pending.get(id);
      pending.delete(id);
      p?.resolve(bytes);
    });
    w.on('error', fail);
    w.on('exit', (code) => code !== 0 && fail(new Error(`a chunk worker exited with code ${code}`)));
    return w;
  });
  let nextId = 0;
  return {
    parallel: true,
    draw(job) {
      if (failure) return Promise.reject(failure);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        workers[id % threads].postMessage({ id, job });
      });
    },
    async close() {
      failure ??= new Error('chunk workers closed');
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
