/// <reference types="@webgpu/types" />
// Weights resident on the GPU, as raw words (f32 bits, two 16-bit values per word, or a GGML type's blocks as the
// file stores them: decoded in the kernels, weightDecode.wgsl.ts).
// - A single matrix is split by rows into slabs when it exceeds one storage binding (an embedding table or lm_head
//   of 400 MB against lavapipe's 128 MiB binding limit).
// - A stack (per-head W_UK/W_UV, a layer's routed experts' gate/up/down) puts same-shaped matrices one after
//   another, as many per slab as one binding holds, so one dispatch reaches any of them by index.
// Each weight keeps its source: the host tensor the loader filled (kept, so that a lost device can be re-filled
// without re-reading the model file) or a seeded generator (the benchmark's random weights, made on the GPU).
// Buffers are re-created on a new device when next used.
import { GGML_TYPES, rowBytes, tensorBytes } from '../../weights/ggmlTypes';
import type { DType } from '../../weights/safetensors';
import type { Tensor } from '../../weights/tensor';
import { USAGE } from './gpuDevice';
import type { GpuRuntime } from './gpuRuntime';
import { runsPerWord } from './kernels/quantDecode.wgsl';
import { matrixStride, wordsOf } from './kernels/weightDecode.wgsl';
import type { StepQueue } from './stepQueue';

/** Fills words [wordOffset, wordOffset + words) of `buffer` by recording GPU work (a seeded random kernel). */
export type WeightGenerator = (queue: StepQueue, buffer: () => GPUBuffer, wordOffset: number, words: number) => void;

export interface Slab {
  /** First row (single matrix) or first matrix (stack) in this slab. */
  first: number;
  count: number;
}

interface Placed {
  generation: number;
  buffers: GPUBuffer[];
}

export interface MatrixLayout {
  dtype: DType;
  rows: number;
  cols: number;
  slabs: Slab[];
}

export interface StackLayout extends MatrixLayout {
  /** Elements between consecutive matrices. */
  stride: number;
  matrices: number;
}

export class GpuWeights {
  private readonly generators = new WeakMap<Tensor, WeightGenerator>();
  private readonly single = new WeakMap<Tensor, Placed>();
  private readonly stacks = new WeakMap<readonly Tensor[], Placed & { layout: StackLayout }>();
  /** Bytes placed so far (what `latent info` and the memory check report). */
  bytesResident = 0;

  constructor(private readonly runtime: GpuRuntime, private readonly queue: StepQueue, readonly memoryBudgetBytes: number | null) {}

  /** Registers a weight made on the GPU by `generate` (no host bytes). */
  registerGenerated(t: Tensor, generate: WeightGenerator): void {
    this.generators.set(t, generate);
  }

  isGenerated(t: Tensor): boolean {
    return this.generators.has(t);
  }

  private get bindingLimit(): number {
    return this.runtime.limits.maxStorageBufferBindingSize;
  }

  static shapeOf(t: Tensor): { rows: number; cols: number } {
    if (t.shape.length === 1) return { rows: 1, cols: t.shape[0] };
    if (t.shape.length !== 2) throw new RangeError(`webgpu: weight ${t.name} has shape [${t.shape.join(', ')}]; only 1-D and 2-D weights are supported`);
    return { rows: t.shape[0], cols: t.shape[1] };
  }

  matrixLayout(t: Tensor): MatrixLayout {
    const { rows, cols } = GpuWeights.shapeOf(t);
    const bytesPerRow = rowBytes(t.dtype, cols);
    // Every slab starts on a word: a whole number of rows per slab whose bytes are whole words (16-bit rows of odd
    // length go in pairs; Q8_0 rows of 34-byte blocks in pairs or fours).
    const rowsPerWord = runsPerWord(bytesPerRow);
    let perSlab = Math.max(1, Math.floor(this.bindingLimit / Math.max(bytesPerRow, 1)));
    if (perSlab > rowsPerWord) perSlab -= perSlab % rowsPerWord;
    const slabs: Slab[] = [];
    for (let first = 0; first < rows; first += perSlab) slabs.push({ first, count: Math.min(perSlab, rows - first) });
    return { dtype: t.dtype, rows, cols, slabs };
  }

  private checkBudget(what: string, bytes: number): void {
    const budget = this.memoryBudgetBytes;
    if (budget !== null && this.bytesResident + bytes > budget) {
      throw new RangeError(`webgpu: the weights do not fit the GPU memory budget: ${what} needs ${bytes} B more, ` +
        `${this.bytesResident} B are already placed and the budget is ${budget} B`);
    }
  }

  /** Places a single matrix now (load time), so that a model too large is refused while loading. */
  place(t: Tensor): void {
    this.placeSingle(t);
  }

  private placeSingle(t: Tensor): Placed {
    const known = this.single.get(t);
    if (known && known.generation === this.runtime.generation) return known;
    const layout = this.matrixLayout(t);
    const rowElements = layout.cols;
    const generate = this.generators.get(t);
    if (!generate && t.data.byteLength !== tensorBytes(t.dtype, t.shape)) {
      throw new Error(`webgpu: weight ${t.name} has ${t.data.byteLength} host bytes for ${t.dtype} [${t.shape.join(', ')}] (its host copy was dropped)`);
    }
    const bytes = layout.slabs.reduce((a, s) => a + wordsOf(t.dtype, s.count * rowElements) * 4, 0);
    if (!known) this.checkBudget(t.name, bytes);
    const buffers = layout.slabs.map((s, i) => {
      const words = wordsOf(t.dtype, s.count * rowElements);
      const buffer = this.runtime.createBuffer(`weight ${t.name}${layout.slabs.length > 1 ? ` rows ${s.first}..` : ''}`, words * 4, USAGE.STORAGE | USAGE.COPY_DST | USAGE.COPY_SRC);
      if (generate) generate(this.queue, () => buffers[i], 0, words);
      else this.upload(t, s.first * rowElements, s.count * rowElements, buffer, 0);
      return buffer;
    });
    const placed = { generation: this.runtime.generation, buffers };
    if (!known) this.bytesResident += bytes;
    this.single.set(t, placed);
    return placed;
  }

  /** Host values [start, start + count) of t (whole rows) into `buffer` at word `wordOffset` (padded to a word). */
  private upload(t: Tensor, start: number, count: number, buffer: GPUBuffer, wordOffset: number): void {
    const { blockElements, blockBytes } = GGML_TYPES[t.dtype];
    if (start % blockElements !== 0 || count % blockElements !== 0) throw new Error(`webgpu: ${t.name}: a run of ${count} from ${start} is not whole ${t.dtype} blocks`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset + (start / blockElements) * blockBytes, (count / blockElements) * blockBytes);
    // Dawn takes no SharedArrayBuffer (the loader's tensors live in one): staged through ordinary memory, in
    // chunks so that a large tensor never needs a second full copy on the host.
    const CHUNK = 1 << 26;
    const device = this.runtime.device;
    for (let at = 0; at < bytes.length; at += CHUNK) {
      const part = bytes.subarray(at, Math.min(bytes.length, at + CHUNK));
      const staged = new Uint8Array(Math.ceil(part.length / 4) * 4);
      staged.set(part);
      device.queue.writeBuffer(buffer, wordOffset * 4 + at, staged.buffer, 0, staged.length);
    }
  }

  /** A slab's buffer of a single matrix, placed (again, on a new device) when the op using it is recorded. */
  slabBuffer(t: Tensor, slab: number): () => GPUBuffer {
    // Placed when the op is recorded, so that a generator's work is recorded before the op that reads it.
    const placed = this.placeSingle(t);
    return () => placed.buffers[slab];
  }

  /** The layout of a stack of same-shaped matrices. */
  stackLayout(ts: readonly Tensor[]): StackLayout {
    const known = this.stacks.get(ts);
    if (known) return known.layout;
    const first = ts[0];
    const { rows, cols } = GpuWeights.shapeOf(first);
    for (const t of ts) {
      const s = GpuWeights.shapeOf(t);
      if (t.dtype !== first.dtype || s.rows !== rows || s.cols !== cols) {
        throw new RangeError(`webgpu: stacked weights differ: ${first.name} is ${first.dtype} [${rows}, ${cols}], ${t.name} is ${t.dtype} [${s.rows}, ${s.cols}]`);
      }
    }
    const stride = matrixStride(first.dtype, rows * cols);
    const matrixBytes = wordsOf(first.dtype, stride) * 4;
    if (matrixBytes > this.bindingLimit) throw new RangeError(`webgpu: ${first.name} (${matrixBytes} B) exceeds one storage binding (${this.bindingLimit} B)`);
    const perSlab = Math.floor(this.bindingLimit / matrixBytes);
    const slabs: Slab[] = [];
    for (let f = 0; f < ts.length; f += perSlab) slabs.push({ first: f, count: Math.min(perSlab, ts.length - f) });
    return { dtype: first.dtype, rows, cols, slabs, stride, matrices: ts.length };
  }

  private placeStack(ts: readonly Tensor[]): Placed & { layout: StackLayout } {
    const known = this.stacks.get(ts);
    if (known && known.generation === this.runtime.generation) return known;
    const layout = known?.layout ?? this.stackLayout(ts);
    const strideWords = wordsOf(layout.dtype, layout.stride);
    const buffers = layout.slabs.map((s, i) => {
      const buffer = this.runtime.createBuffer(`stack ${ts[s.first].name}.. (${s.count})`, s.count * strideWords * 4, USAGE.STORAGE | USAGE.COPY_DST);
      for (let m = 0; m < s.count; m++) {
        const t = ts[s.first + m];
        const generate = this.generators.get(t);
        if (generate) generate(this.queue, () => buffers[i], m * strideWords, wordsOf(t.dtype, layout.rows * layout.cols));
        else this.upload(t, 0, layout.rows * layout.cols, buffer, m * strideWords);
      }
      return buffer;
    });
    if (!known) {
      // The stack replaces the matrices' single copies (placed at load): those are released.
      let bytes = 0;
      for (const t of ts) {
        const single = this.single.get(t);
        if (single) {
          for (const b of single.buffers) {
            bytes += b.size;
            b.destroy();
          }
          this.single.delete(t);
        }
      }
      this.bytesResident += layout.slabs.reduce((a, s) => a + s.count * strideWords * 4, 0) - bytes;
    }
    const placed = { generation: this.runtime.generation, buffers, layout };
    this.stacks.set(ts, placed);
    return placed;
  }

  stackBuffer(ts: readonly Tensor[], slab: number): () => GPUBuffer {
    const placed = this.placeStack(ts);
    return () => placed.buffers[slab];
  }

  /** Places a stack now (the first step would otherwise do it). */
  prepareStack(ts: readonly Tensor[]): StackLayout {
    return this.placeStack(ts).layout;
  }
}
