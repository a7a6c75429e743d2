// The WebGPU backend's activation buffers reused layer to layer (Backend.beginLayer / endLayer, stepQueue.ts): a
// layer's buffers go back to the pool as its end is encoded, so the next layer's ops, in the same submission, take
// them; the results are those of the CPU backend; an activation used after its layer ended is a clear error.
import * as assert from 'node:assert/strict';
import type { Activation, Backend } from '../../engine/backend/backend';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import type { WebGpuBackend } from '../../engine/backend/webgpu/webGpuBackend';
import { randomTensor } from './backendInputs';
import { maxAbsDiff } from './fixtureModel';
import { webgpuOrSkip } from './webgpuAdapter';

describe('WebGPU backend: activation buffers reused layer to layer', function () {
  let gpu: WebGpuBackend;
  before(async function () {
    gpu = await webgpuOrSkip(this);
  });
  after(() => gpu?.dispose());

  const table = randomTensor('table', 'F32', [4, 32], 1);
  const weights = [randomTensor('w0', 'F32', [32, 32], 2, 0.2), randomTensor('w1', 'F32', [32, 32], 3, 0.2)];

  /** h = embed; per layer h += W_l·h; the activation made in the last layer (dead after it). */
  function layers(b: Backend): { h: Activation; last: Activation } {
    const ws = weights.map((w) => b.adoptWeight(w));
    const h = b.embed(b.adoptWeight(table), Int32Array.from([0, 1, 2, 3]));
    let last = h;
    for (const w of ws) {
      b.beginLayer?.();
      last = b.linear(h, w);
      b.addInto(h, last);
      b.endLayer?.();
    }
    return { h, last };
  }

  it('the second layer takes the first layer\'s buffer, and the result is the CPU backend\'s', async () => {
    const created: string[] = [];
    const createBuffer = gpu.runtime.createBuffer.bind(gpu.runtime);
    gpu.runtime.createBuffer = (what, bytes, usage) => (created.push(what), createBuffer(what, bytes, usage));
    try {
      const { h } = layers(gpu);
      const got = await gpu.read(h);
      gpu.endStep();
      const cpu = new CpuBackend();
      const want = await cpu.read(layers(cpu).h);
      assert.ok(maxAbsDiff(got, want) <= 1e-5, `max |diff| ${maxAbsDiff(got, want)}`);
      // h, and one buffer for both layers' outputs (without the reuse: one per layer).
      assert.equal(created.filter((w) => w.startsWith('activation')).length, 2, created.join(', '));
    } finally {
      gpu.runtime.createBuffer = createBuffer;
    }
  });

  it('an activation read after its layer ended is refused with a clear error', async () => {
    const { last } = layers(gpu);
    await assert.rejects(gpu.read(last), /used after its layer ended/);
    gpu.endStep();
  });
});
