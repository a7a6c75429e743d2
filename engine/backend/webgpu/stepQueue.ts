/// <reference types="@webgpu/types" />
// A step's work as it is recorded: ops append their parameters (one 256-byte uniform window per dispatch) and
// host data (token ids, cos/sin tables, page tables) to two arenas at once, and a closure that encodes them. A
// flush encodes every recorded op into one command encoder (compute work in as few passes as the copies allow),
// uploads both arenas, submits once inside validation and out-of-memory error scopes, and returns the scopes'
// verdict. Activation buffers are bound when their first op is encoded and go back to the pool at the end of
// their layer (Backend.endLayer: an encoded marker, so later ops of the same submission reuse them) or of the step.
import type { Activation } from '../backend';
import { DeviceLostError, GpuRuntime } from './gpuRuntime';
import { USAGE } from './gpuDevice';

/** A [rows, cols] f32 matrix: `offset` floats into its root's buffer (sliceRows views share the root). */
export class GpuActivation implements Activation {
  buffer: GPUBuffer | null = null;
  /** Its layer ended and its buffer went back to the pool (a later use is the model's error). */
  released = false;
  constructor(readonly rows: number, readonly cols: number, readonly root: GpuActivation | null = null,
    readonly offset = 0, readonly step = 0) {}

  get size(): number {
    return this.rows * this.cols;
  }
}

/** What a dispatch binds: an activation (its root's buffer), a buffer known only at encode time, or the upload arena. */
export type Binding = GpuActivation | (() => GPUBuffer) | 'upload';

export interface EncodeContext {
  encoder: GPUCommandEncoder;
  bufferOf(b: Binding): GPUBuffer;
}

type RecordedOp =
  | { kind: 'compute'; pipeline: () => GPUComputePipeline; params: number; bindings: Binding[]; workgroups: [number, number, number] }
  | { kind: 'encoder'; encode: (ctx: EncodeContext) => void }
  | { kind: 'layer'; edge: 'begin' | 'end' };

const PARAMS_WINDOW = 256;

/** Bytes of an activation buffer of `floats` floats, rounded so that similar shapes share pooled buffers. */
function pooledBytes(floats: number): number {
  const bytes = Math.max(256, floats * 4);
  const step = 2 ** Math.max(8, Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

export class StepQueue {
  private ops: RecordedOp[] = [];
  private params = new Uint32Array(PARAMS_WINDOW);
  private paramsUsed = 0; // bytes
  private upload = new Uint32Array(1024);
  private uploadUsed = 0; // words
  private paramsBuffer: GPUBuffer | null = null;
  private uploadBuffer: GPUBuffer | null = null;
  private bufferGeneration = -1;
  /** Free activation buffers by size; in-use ones of the current step (buffer -> bytes). */
  private pool = new Map<number, GPUBuffer[]>();
  private inUse = new Map<GPUBuffer, number>();
  /** While a layer is being encoded: the activations first bound in it. */
  private layerRoots: GpuActivation[] | null = null;
  step = 1;

  /** Work a recorder deferred (batched latent copies) that must be recorded before the next op. */
  private hooks = new Set<() => void>();

  constructor(private readonly runtime: GpuRuntime) {}

  /** Runs `hook` once before the next op is recorded or the queue flushed. */
  beforeNextOp(hook: () => void): void {
    this.hooks.add(hook);
  }

  private runHooks(): void {
    if (this.hooks.size === 0) return;
    const hooks = [...this.hooks];
    this.hooks.clear();
    for (const h of hooks) h();
  }

  get pending(): number {
    return this.ops.length;
  }

  /** A new activation of this step (its buffer is bound when first encoded). */
  activation(rows: number, cols: number): GpuActivation {
    const limit = this.runtime.limits.maxStorageBufferBindingSize;
    if (rows * cols * 4 > limit) {
      throw new RangeError(`webgpu: an activation of [${rows}, ${cols}] f32 (${rows * cols * 4} B) exceeds the adapter's maxStorageBufferBindingSize (${limit} B); use fewer tokens per step`);
    }
    return new GpuActivation(rows, cols, null, 0, this.step);
  }

  /** Appends one dispatch's parameters (u32 words; floats as their bits, see f32Bits) and returns its byte offset. */
  addParams(words: ArrayLike<number>): number {
    if (words.length * 4 > PARAMS_WINDOW) throw new RangeError('webgpu: kernel parameters over 256 B');
    if (this.paramsUsed + PARAMS_WINDOW > this.params.byteLength) {
      const grown = new Uint32Array(this.params.length * 2);
      grown.set(this.params);
      this.params = grown;
    }
    const at = this.paramsUsed;
    this.params.fill(0, at / 4, at / 4 + PARAMS_WINDOW / 4);
    for (let i = 0; i < words.length; i++) this.params[at / 4 + i] = words[i] >>> 0;
    this.paramsUsed += PARAMS_WINDOW;
    return at;
  }

  /** Appends host data (32-bit values) for this flush's kernels; returns its offset in words. */
  addUpload(data: Uint32Array | Int32Array | Float32Array): number {
    const words = new Uint32Array(data.buffer, data.byteOffset, data.length);
    if (this.uploadUsed + words.length > this.upload.length) {
      const grown = new Uint32Array(Math.max(this.upload.length * 2, this.uploadUsed + words.length));
      grown.set(this.upload.subarray(0, this.uploadUsed));
      this.upload = grown;
    }
    const at = this.uploadUsed;
    this.upload.set(words, at);
    // Keep every upload 16-byte aligned (some kernels read vec4s in future; cheap).
    this.uploadUsed = Math.ceil((at + words.length) / 4) * 4;
    return at;
  }

  /** The device generation the recorded ops were recorded against (a flush on a newer device fails them). */
  private recordedOn = -1;

  private noteRecording(): void {
    if (this.ops.length === 0) this.recordedOn = this.runtime.generation;
  }

  dispatch(pipeline: () => GPUComputePipeline, params: ArrayLike<number>, bindings: Binding[], workgroups: [number, number, number]): void {
    this.runHooks();
    this.noteRecording();
    if (workgroups[0] === 0 || workgroups[1] === 0 || workgroups[2] === 0) return;
    const max = this.runtime.limits.maxComputeWorkgroupsPerDimension;
    if (workgroups.some((w) => w > max)) throw new RangeError(`webgpu: dispatch of ${workgroups.join('x')} workgroups over the limit of ${max} per dimension`);
    this.ops.push({ kind: 'compute', pipeline, params: this.addParams(params), bindings, workgroups });
  }

  /** Work outside compute passes (buffer copies), in recording order with the dispatches. */
  encoderOp(encode: (ctx: EncodeContext) => void): void {
    this.runHooks();
    this.noteRecording();
    this.ops.push({ kind: 'encoder', encode });
  }

  /** Brackets a layer's ops (see Backend.beginLayer): recorded in order with them, acted on as they are encoded. */
  layerEdge(edge: 'begin' | 'end'): void {
    this.runHooks();
    this.noteRecording();
    this.ops.push({ kind: 'layer', edge });
  }

  private bufferFor(a: GpuActivation): GPUBuffer {
    const root = a.root ?? a;
    if (root.step !== this.step) throw new Error(`webgpu: an activation of step ${root.step} used in step ${this.step} (activations live until endStep)`);
    if (root.released) throw new Error(`webgpu: an activation [${root.rows}, ${root.cols}] used after its layer ended (a layer's activations live until endLayer)`);
    if (!root.buffer) {
      const bytes = pooledBytes(root.size);
      const free = this.pool.get(bytes);
      root.buffer = free?.pop() ?? this.runtime.createBuffer(`activation [${root.rows}, ${root.cols}]`, bytes, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST);
      this.inUse.set(root.buffer, bytes);
      this.layerRoots?.push(root);
    }
    return root.buffer;
  }

  /** Buffers back to the free pool (the GPU runs later work after the work already encoded that used them). */
  private toPool(buffers: Iterable<[GPUBuffer, number]>): void {
    for (const [buffer, bytes] of buffers) {
      let list = this.pool.get(bytes);
      if (!list) this.pool.set(bytes, (list = []));
      list.push(buffer);
    }
  }

  private encodeLayerEdge(edge: 'begin' | 'end'): void {
    if (edge === 'begin') {
      this.layerRoots = [];
      return;
    }
    const ended: [GPUBuffer, number][] = [];
    for (const root of this.layerRoots ?? []) {
      ended.push([root.buffer!, this.inUse.get(root.buffer!)!]);
      this.inUse.delete(root.buffer!);
      root.buffer = null;
      root.released = true;
    }
    this.toPool(ended);
    this.layerRoots = null;
  }

  private ensureArenas(): void {
    if (this.bufferGeneration !== this.runtime.generation) {
      this.bindGroups = new Map();
      this.paramsBuffer = this.uploadBuffer = null;
      this.pool = new Map();
      this.inUse = new Map();
      this.layerRoots = null;
      this.bufferGeneration = this.runtime.generation;
    }
    const paramsBytes = Math.max(this.paramsUsed, PARAMS_WINDOW);
    if (!this.paramsBuffer || this.paramsBuffer.size < paramsBytes) {
      this.paramsBuffer = this.runtime.createBuffer('kernel parameters', Math.max(paramsBytes, 1 << 16) * 2, USAGE.UNIFORM | USAGE.COPY_DST);
      this.bindGroups = new Map(); // they bound the old parameter buffer
    }
    const uploadBytes = Math.max(this.uploadUsed * 4, 16);
    if (!this.uploadBuffer || this.uploadBuffer.size < uploadBytes) {
      this.uploadBuffer = this.runtime.createBuffer('uploads', Math.max(uploadBytes, 1 << 16) * 2, USAGE.STORAGE | USAGE.COPY_DST);
    }
  }

  /**
   * Encodes and submits everything recorded, then `after(encoder)` (e.g. copies into a staging buffer) in the
   * same submission. Returns the error scopes' verdict (an Error, or null). Throws at once when the device is
   * unavailable or a captured error is pending.
   */
  flush(after?: (encoder: GPUCommandEncoder, ctx: EncodeContext) => void): Promise<Error | null> {
    this.runHooks();
    const lost = this.runtime.unavailable;
    if (lost) {
      this.discard();
      throw new DeviceLostError(`webgpu: ${lost}; the request failed, the backend re-creates the device for the next one`);
    }
    if (this.ops.length > 0 && this.recordedOn !== this.runtime.generation) {
      this.discard();
      throw new DeviceLostError('the WebGPU device was lost during the request (its work was recorded on the old device); the backend re-created it for the next request');
    }
    try {
      this.runtime.takeError();
    } catch (e) {
      this.discard();
      throw e;
    }
    const device = this.runtime.device;
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    let ok = false;
    try {
      this.ensureArenas();
      const encoder = device.createCommandEncoder();
      const ctx: EncodeContext = {
        encoder,
        bufferOf: (b) => (b === 'upload' ? this.uploadBuffer! : typeof b === 'function' ? b() : this.bufferFor(b)),
      };
      let pass: GPUComputePassEncoder | null = null;
      for (const op of this.ops) {
        if (op.kind === 'layer') {
          this.encodeLayerEdge(op.edge);
          continue;
        }
        if (op.kind === 'encoder') {
          pass?.end();
          pass = null;
          op.encode(ctx);
          continue;
        }
        const pipeline = op.pipeline();
        const buffers = op.bindings.map((b) => ctx.bufferOf(b));
        const group = this.bindGroup(device, pipeline, op.params, buffers);
        pass ??= encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(...op.workgroups);
      }
      pass?.end();
      after?.(encoder, ctx);
      device.queue.writeBuffer(this.paramsBuffer!, 0, this.params.buffer, 0, Math.max(this.paramsUsed, 16));
      if (this.uploadUsed > 0) device.queue.writeBuffer(this.uploadBuffer!, 0, this.upload.buffer, 0, this.uploadUsed * 4);
      device.queue.submit([encoder.finish()]);
      ok = true;
    } finally {
      this.ops = [];
      this.paramsUsed = 0;
      this.uploadUsed = 0;
      if (!ok) {
        void device.popErrorScope();
        void device.popErrorScope();
      }
    }
    const oom = device.popErrorScope();
    const validation = device.popErrorScope();
    return Promise.all([oom, validation]).then(([o, v]) => {
      if (o) return new RangeError(`webgpu: out of GPU memory: ${o.message}`);
      if (v) return new Error(`webgpu: validation error: ${v.message}`);
      return null;
    });
  }

  /**
   * The bind group of a dispatch, from a cache: a decode step binds the same pipelines, parameter windows and
   * (pooled) buffers as the one before, and creating ~25 bind groups per layer per token costs more host time than
   * the GPU spends on a small layer.
   */
  private bindGroup(device: GPUDevice, pipeline: GPUComputePipeline, params: number, buffers: GPUBuffer[]): GPUBindGroup {
    let key = `${this.idOf(pipeline)}:${params}`;
    for (const b of buffers) key += `:${this.idOf(b)}`;
    let group = this.bindGroups.get(key);
    if (!group) {
      if (this.bindGroups.size >= 16384) this.bindGroups.clear();
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.paramsBuffer!, offset: params, size: PARAMS_WINDOW } }];
      buffers.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
      let layout = this.layouts.get(pipeline);
      if (!layout) this.layouts.set(pipeline, (layout = pipeline.getBindGroupLayout(0)));
      group = device.createBindGroup({ layout, entries });
      this.bindGroups.set(key, group);
    }
    return group;
  }

  private idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  private bindGroups = new Map<string, GPUBindGroup>();
  private layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  private ids = new WeakMap<object, number>();
  private nextId = 1;

  /** Drops what was recorded (after a lost device: it cannot run). */
  discard(): void {
    this.ops = [];
    this.paramsUsed = 0;
    this.uploadUsed = 0;
  }

  /** Ends the step: its activation buffers return to the pool (later submissions run after this one's). */
  endStep(): void {
    if (this.bufferGeneration === this.runtime.generation) this.toPool(this.inUse);
    this.inUse = new Map();
    this.layerRoots = null;
    this.step++;
  }
}


/** A 2-D grid of at least `count` workgroups (a dimension holds at most 65,535): the kernels mask the excess. */
export function grid2(count: number): [number, number] {
  if (count <= 65535) return [Math.max(count, 1), 1];
  return [65535, Math.ceil(count / 65535)];
}
