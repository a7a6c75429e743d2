/// <reference types="@webgpu/types" />
// The WebGPU adapter and device through Dawn (npm `webgpu`, an ES module: loaded with a dynamic import from this
// CommonJS build). The device is requested with the adapter's own buffer limits (the defaults cap a storage
// binding at 128 MiB) and `shader-f16` when the adapter has it, unless turned off (the option, or
// LATENT_WEBGPU_SHADER_F16=0: the kernels then read f16 weights as u32 words, the fallback). Errors the device
// reports outside an error scope (`uncapturederror`) are kept, and thrown by the next submission: no validation
// error is ever silent.

/** GPUBufferUsage / GPUMapMode bits (the spec's numbers; Dawn's globals are not installed on globalThis). */
export const USAGE = { MAP_READ: 1, COPY_SRC: 4, COPY_DST: 8, UNIFORM: 64, STORAGE: 128 } as const;
export const MAP_READ = 1;

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU (software) adapters such as Mesa's lavapipe (llvmpipe). */
  software: boolean;
  features: string[];
  limits: Record<string, number>;
}

/** The limits the backend sizes its buffers and dispatches by. */
export const KEY_LIMITS = [
  'maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage', 'minUniformBufferOffsetAlignment',
  'minStorageBufferOffsetAlignment',
] as const;

export interface GpuContext {
  adapter: GPUAdapter;
  device: GPUDevice;
  summary: AdapterSummary;
  hasShaderF16: boolean;
}

let gpuPromise: Promise<GPU> | undefined;

/** Dawn's GPU object, created once per process. */
async function gpu(): Promise<GPU> {
  gpuPromise ??= (async () => {
    const dawn = (await import('webgpu')) as unknown as { create(options: string[]): GPU };
    return dawn.create([]);
  })();
  return gpuPromise;
}

function summarise(adapter: GPUAdapter): AdapterSummary {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  for (const name of KEY_LIMITS) limits[name] = Number((adapter.limits as unknown as Record<string, number>)[name]);
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    software: /llvmpipe|lavapipe|swiftshader|software|cpu/.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
    features: [...adapter.features].sort(),
    limits,
  };
}

/** The adapter Dawn offers (high-performance preferred), or null with the reason when there is none. */
export async function findAdapter(): Promise<{ adapter: GPUAdapter; summary: AdapterSummary } | { adapter: null; reason: string }> {
  let g: GPU;
  try {
    g = await gpu();
  } catch (e) {
    return { adapter: null, reason: `the webgpu module (Dawn) did not load: ${(e as Error).message}` };
  }
  const adapter = await g.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { adapter: null, reason: 'Dawn found no WebGPU adapter (no Vulkan driver? on Debian: mesa-vulkan-drivers from bookworm-backports, or the GPU vendor\'s driver, and libvulkan1)' };
  return { adapter, summary: summarise(adapter) };
}

export interface DeviceOptions {
  /** Request `shader-f16` where the adapter has it (default: yes, unless LATENT_WEBGPU_SHADER_F16=0). */
  shaderF16?: boolean;
}

/**
 * Whether a device on an adapter with `features` gets `shader-f16`, the kernels' native f16 reads; the reason when
 * not (the kernels then decode f16 weights from u32 words).
 */
export function shaderF16Decision(features: readonly string[], options: DeviceOptions = {}): { enabled: boolean; reason: string } {
  if (!features.includes('shader-f16')) return { enabled: false, reason: 'the adapter lacks shader-f16' };
  if (options.shaderF16 === false) return { enabled: false, reason: 'shader-f16 turned off' };
  if (options.shaderF16 === undefined && process.env.LATENT_WEBGPU_SHADER_F16 === '0') {
    return { enabled: false, reason: 'shader-f16 turned off by LATENT_WEBGPU_SHADER_F16=0' };
  }
  return { enabled: true, reason: 'shader-f16' };
}

/** What `latent info` says of the f16 path a device on these features takes. */
export function describeF16Path(features: readonly string[]): string {
  const { enabled, reason } = shaderF16Decision(features);
  return enabled ? 'native f16 reads, f32 arithmetic (shader-f16)' : `decoded from u32 words, f32 arithmetic (${reason})`;
}

/** A device on the adapter, with its buffer limits raised to the adapter's. */
export async function openDevice(options: DeviceOptions = {}): Promise<GpuContext> {
  const found = await findAdapter();
  if (!found.adapter) throw new Error(`webgpu: ${found.reason}`);
  const { adapter, summary } = found;
  const hasShaderF16 = shaderF16Decision(summary.features, options).enabled;
  const device = await adapter.requestDevice({
    requiredFeatures: hasShaderF16 ? ['shader-f16'] : [],
    requiredLimits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
      maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  return { adapter, device, summary, hasShaderF16 };
}

/** "vendor architecture (description)" for logs. */
export function describeAdapter(s: AdapterSummary): string {
  const parts = [s.vendor, s.architecture, s.device].filter((p) => p);
  return `${parts.join(' ') || 'unknown adapter'}${s.description ? ` (${s.description})` : ''}${s.software ? ', software' : ''}`;
}
