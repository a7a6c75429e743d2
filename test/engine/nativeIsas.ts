// The native kernel module for tests: the instruction sets this CPU runs it with, or a skip with the reason. With
// LATENT_REQUIRE_NATIVE=1 (CI, which installs gcc) a missing module fails the suite instead.
import { loadNativeModule, NativeIsa } from '../../engine/backend/cpu/nativeKernels';

/** The instruction sets to test, or why none (a skip, or a failure under LATENT_REQUIRE_NATIVE=1). */
export function nativeIsas(ctx: Mocha.Context): NativeIsa[] {
  const loaded = loadNativeModule();
  const reason = 'error' in loaded ? loaded.error : loaded.module.isas().length === 0 ? 'this CPU has neither AVX-512 nor AVX2 with FMA' : undefined;
  if (reason) {
    if (process.env.LATENT_REQUIRE_NATIVE === '1') throw new Error(`LATENT_REQUIRE_NATIVE=1 but ${reason}`);
    console.log(`      (skipped: ${reason})`);
    ctx.skip();
  }
  return (loaded as { module: { isas(): NativeIsa[] } }).module.isas();
}
