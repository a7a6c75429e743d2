/// <reference types="@webgpu/types" />
// The device's lifetime and what hangs off it: compiled pipelines, buffers (each allocation inside an
// out-of-memory scope), captured errors, and recovery from a lost device. A lost device (driver reset, sleep,
// `device.destroy()`) bumps `generation`; everything created on the old device is then stale, and the owners
// (weights, latent stores) re-create their buffers on the new one when they are next used.
import { AdapterSummary, DeviceOptions, GpuContext, openDevice } from './gpuDevice';

export class DeviceLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceLostError';
  }
}

export class GpuRuntime {
  private ctx: GpuContext;
  /** Increments each time the device is re-created after a loss. */
  generation = 0;
  /** Set while the device is lost and a new one is being opened. */
  private recovering: Promise<void> | null = null;
  private lostReason: string | null = null;
  /** The first error the device reported outside an error scope, or a deferred scope's error: thrown by the next flush. */
  private pendingError: Error | null = null;
  private pipelines = new Map<string, GPUComputePipeline>();
  private readonly resetListeners: (() => void)[] = [];
  private disposed = false;

  private constructor(ctx: GpuContext, private readonly options: DeviceOptions) {
    this.ctx = ctx;
    this.watch(ctx.device);
  }

  static async open(options: DeviceOptions = {}): Promise<GpuRuntime> {
    return new GpuRuntime(await openDevice(options), options);
  }

  get device(): GPUDevice {
    return this.ctx.device;
  }

  get summary(): AdapterSummary {
    return this.ctx.summary;
  }

  /** Whether the device has `shader-f16`: the kernels read f16 weights as native f16. */
  get hasShaderF16(): boolean {
    return this.ctx.hasShaderF16;
  }

  get limits(): GPUSupportedLimits {
    return this.ctx.device.limits;
  }

  /** Called after a new device replaced a lost one (the latent stores' pages were lost with it). */
  onReset(listener: () => void): void {
    this.resetListeners.push(listener);
  }

  private watch(device: GPUDevice): void {
    device.addEventListener('uncapturederror', (event) => {
      const e = (event as GPUUncapturedErrorEvent).error;
      this.pendingError ??= new Error(`webgpu: ${e.constructor?.name ?? 'error'}: ${e.message}`);
    });
    void device.lost.then((info) => {
      if (this.disposed || device !== this.ctx.device) return;
      this.lostReason = `the WebGPU device was lost (${info.reason}${info.message ? `: ${info.message}` : ''})`;
      this.recovering = this.recreate();
    });
  }

  private async recreate(): Promise<void> {
    // Retry a few times: a reset driver may take a moment to offer an adapter again.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const ctx = await openDevice(this.options);
        this.ctx = ctx;
        this.pipelines = new Map();
        this.generation++;
        this.lostReason = null;
        this.pendingError = null;
        this.watch(ctx.device);
        for (const listener of this.resetListeners) listener();
        this.recovering = null;
        return;
      } catch (e) {
        lastError = e;
        await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
      }
    }
    this.recovering = null;
    throw new DeviceLostError(`${this.lostReason}; no new device could be opened: ${(lastError as Error)?.message}`);
  }

  /** Null when the device is usable now, else why not (lost, being re-created). */
  get unavailable(): string | null {
    return this.lostReason;
  }

  /** Waits for a lost device to be replaced (re-throws when that failed). */
  async ready(): Promise<void> {
    if (this.recovering) await this.recovering;
    if (this.lostReason) throw new DeviceLostError(this.lostReason);
  }

  /** A promise that rejects when the current device is lost (to race a map or a submission against). */
  lostSignal(): Promise<never> {
    const device = this.ctx.device;
    return device.lost.then((info) => {
      throw new DeviceLostError(`the WebGPU device was lost during the request (${info.reason}${info.message ? `: ${info.message}` : ''}); the backend re-creates it for the next request`);
    });
  }

  /** Records an error to be thrown by the next flush (errors from scopes that resolve after a synchronous flush). */
  deferError(e: Error): void {
    this.pendingError ??= e;
  }

  /** Throws (and clears) an error the device reported since the last call. */
  takeError(): void {
    const e = this.pendingError;
    if (e) {
      this.pendingError = null;
      throw e;
    }
  }

  pipeline(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const device = this.device;
      const module = device.createShaderModule({ code: code(), label: key });
      p = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /**
   * A buffer of `bytes` (rounded up to 16) for `what`. Allocation failures surface as errors naming the
   * buffer and its size, at the next flush at the latest (WebGPU reports out-of-memory asynchronously).
   */
  createBuffer(what: string, bytes: number, usage: number): GPUBuffer {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const max = this.limits.maxBufferSize;
    if (size > max) throw new RangeError(`webgpu: ${what} needs a buffer of ${size} B, over the adapter's maxBufferSize of ${max} B`);
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    const buffer = device.createBuffer({ size, usage, label: what });
    void device.popErrorScope().then((err) => {
      if (err) this.deferError(new RangeError(`webgpu: out of GPU memory allocating ${what} (${size} B): ${err.message}`));
    });
    return buffer;
  }

  dispose(): void {
    this.disposed = true;
    this.ctx.device.destroy();
  }
}
