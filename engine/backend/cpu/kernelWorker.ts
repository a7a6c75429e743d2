// A kernel worker thread: sleeps on the control block, runs its row range of each job with the WASM kernels
// on the job's bank, and counts itself done. Banks added after start arrive on `banks` (read synchronously).
import { MessagePort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import * as C from './controlBlock';
import { instantiateKernels, KernelExports, WasmMemory, WasmModule } from './wasmKernels';

interface KernelWorkerData {
  module: WasmModule;
  control: SharedArrayBuffer;
  banks: MessagePort;
  memories: WasmMemory[];
  thread: number;
}

const data = workerData as KernelWorkerData;
const control = new Int32Array(data.control);
const kernels: KernelExports[] = data.memories.map((m) => instantiateKernels(data.module, m));

function ensureBanks(count: number): void {
  while (kernels.length < count) {
    const message = receiveMessageOnPort(data.banks);
    if (!message) throw new Error(`kernel worker ${data.thread}: bank ${kernels.length} was announced but not sent`);
    kernels.push(instantiateKernels(data.module, (message.message as { memory: WasmMemory }).memory));
  }
}

// Jobs are numbered from 1; the first may be published before this thread gets here.
let seen = 0;
for (;;) {
  for (let i = 0; i < C.SPIN_ITERATIONS && Atomics.load(control, C.SEQ) === seen; i++);
  Atomics.wait(control, C.SEQ, seen);
  seen = Atomics.load(control, C.SEQ);
  const op = control[C.OP];
  if (op === C.OP_STOP) break;
  try {
    ensureBanks(control[C.BANKS]);
    const r0 = control[C.RANGES + 2 * data.thread];
    const r1 = control[C.RANGES + 2 * data.thread + 1];
    if (r1 > r0) {
      const kernel = kernels[control[C.BANK]][C.MATMUL_EXPORTS[op]];
      kernel(control[C.X], control[C.W], control[C.OUT], control[C.N], control[C.ROWS], control[C.COLS], r0, r1, control[C.ROW_BLOCK]);
    }
  } catch (e) {
    Atomics.store(control, C.FAILED, 1);
    console.error(`kernel worker ${data.thread}: ${(e as Error).message}`);
  }
  Atomics.add(control, C.DONE, 1);
  Atomics.notify(control, C.DONE);
}
