// Worker thread for random checkpoints: draws the chunks it is sent and hands their bytes back.
import { parentPort } from 'node:worker_threads';
import { CHUNK_ELEMENTS, ChunkJob, drawChunk } from './randomChunk';

const scratch = new Float32Array(CHUNK_ELEMENTS);
parentPort!.on('message', ({ id, job }: { id: number; job: ChunkJob }) => {
  const bytes = drawChunk(job, scratch);
  parentPort!.postMessage({ id, bytes }, [bytes.buffer as ArrayBuffer]);
});
