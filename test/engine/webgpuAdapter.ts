// The WebGPU backend for tests: one per suite, or a skip with the reason when this machine has no adapter. With
// LATENT_REQUIRE_WEBGPU=1 (CI, which installs lavapipe) a missing adapter fails the suite instead.
import { findAdapter } from '../../engine/backend/webgpu/gpuDevice';
import { WebGpuBackend, WebGpuBackendOptions } from '../../engine/backend/webgpu/webGpuBackend';

let probe: Promise<string | null> | undefined;

/** Null when an adapter is present, else why not. */
export function webgpuUnavailable(): Promise<string | null> {
  probe ??= findAdapter().then((a) => (a.adapter ? null : a.reason));
  return probe;
}

/** In a mocha `before`: this.skip() with the reason when there is no adapter (a failure under LATENT_REQUIRE_WEBGPU=1). */
export async function skipWithoutWebgpu(ctx: Mocha.Context): Promise<void> {
  const reason = await webgpuUnavailable();
  if (reason) {
    if (process.env.LATENT_REQUIRE_WEBGPU === '1') throw new Error(`LATENT_REQUIRE_WEBGPU=1 but ${reason}`);
    console.log(`      (skipped: ${reason})`);
    ctx.skip();
  }
}

/** In a mocha `before`: the backend, or this.skip() with the reason (a failure under LATENT_REQUIRE_WEBGPU=1). */
export async function webgpuOrSkip(ctx: Mocha.Context, options: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  await skipWithoutWebgpu(ctx);
  return WebGpuBackend.create(options);
}
