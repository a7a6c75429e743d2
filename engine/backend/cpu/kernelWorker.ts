// A kernel worker thread: sleeps on the control block, claims chunks of each job and runs them with the
// backend's kernels (kernelSet.ts) on the job's bank. Banks added after start arrive on `banks` (read synchronously).
import { MessagePort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import * as C from './controlBlock';
import { Kernels, KernelSet, kernelsOn } from './kernelSet';
import type { WasmMemory } from './wasmKernels';

interface KernelWorkerData {
  kernels: KernelSet;
  control: SharedArrayBuffer;
  banks: MessagePort;
  memories: WasmMemory[];
  thread: number;
}

const data = workerData as KernelWorkerData;
const control = new Int32Array(data.control);
const kernels: Kernels[] = data.memories.map((m) => kernelsOn(data.kernels, m));

function ensureBanks(count: number): void {
  while (kernels.length < count) {
    const message = receiveMessageOnPort(data.banks);
    if (!message) throw new Error(`kernel worker ${data.thread}: bank ${kernels.length} was announced but not sent`);
    kernels.push(kernelsOn(data.kernels, (message.message as { memory: WasmMemory }).memory));
  }
}

/** Runs the job published as `seq`, unless a newer one replaced it while its fields were read. */
function runJob(seq: number): void {
  const op = control[C.OP];
  const bank = control[C.BANK];
  const banks = control[C.BANKS];
  const job: C.ChunkJob = {
    x: control[C.X], w: control[C.W], out: control[C.OUT], n: control[C.N], rows: control[C.ROWS], cols: control[C.COLS],
    rowBlock: control[C.ROW_BLOCK], split: control[C.SPLIT],
  };
  const first = control[C.FIRST];
  const end = first + control[C.CHUNKS];
  // A per-job copy of the fields runChunk reads, so that a job published meanwhile cannot mix into this one.
  const shape = Int32Array.from(control);
  if (Atomics.load(control, C.SEQ) !== seq) return;
  ensureBanks(banks);
  const kernel = kernels[bank][C.kernelExport(op)];
  if (!kernel) throw new Error(`no kernel ${C.kernelExport(op)} on these kernels`);
  for (let chunk = C.claimChunk(control, end); chunk >= 0; chunk = C.claimChunk(control, end)) {
    try {
      C.runChunk(kernel, shape, chunk - first, job);
    } catch (e) {
      Atomics.store(control, C.FAILED, 1);
      console.error(`kernel worker ${data.thread}: ${(e as Error).message}`);
    }
    Atomics.add(control, C.DONE, 1);
    Atomics.notify(control, C.DONE);
  }
}

let seen = 0;
for (;;) {
  for (let i = 0; i < C.SPIN_ITERATIONS && Atomics.load(control, C.SEQ) === seen; i++);
  Atomics.wait(control, C.SEQ, seen);
  const seq = Atomics.load(control, C.SEQ);
  if (seq & 1) continue; // being written: wait for the even value
  seen = seq;
  if (control[C.OP] === C.OP_STOP) break;
  try {
    runJob(seq);
  } catch (e) {
    Atomics.store(control, C.FAILED, 1);
    console.error(`kernel worker ${data.thread}: ${(e as Error).message}`);
  }
}
