// The CPU backend's layer-to-layer reuse of activation arrays (activationPool.ts): what a layer made is handed out
// again, zeroed, only after the layer ends; nothing made outside a layer is ever reused; a step keeps only the
// lengths it used. And through the backend: a value read inside a layer survives the layer's end.
import * as assert from 'node:assert/strict';
import { ActivationPool } from '../../engine/backend/cpu/activationPool';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { inputs, randomTensor } from './backendInputs';

describe('CPU backend: activation arrays reused layer to layer', () => {
  it('a layer\'s arrays come back zeroed in the next layer, never while theirs is open, never those made outside a layer', () => {
    const pool = new ActivationPool();
    const outside = pool.take(8);
    pool.beginLayer();
    const a = pool.take(8);
    a.fill(3);
    const b = pool.take(8);
    assert.notEqual(a, b, 'two arrays of one open layer are distinct');
    pool.endLayer();
    pool.beginLayer();
    const c = pool.take(8), d = pool.take(8), e = pool.take(8);
    assert.ok([a, b].includes(c) && [a, b].includes(d) && c !== d, 'the last layer\'s arrays are reused');
    assert.ok(c.every((v) => v === 0) && d.every((v) => v === 0), 'reused arrays are zeroed');
    assert.ok(e !== outside && e !== a && e !== b, 'an array made outside a layer is never handed out again');
    pool.endLayer();
    pool.endStep();
    pool.beginLayer();
    assert.ok([a, b, e].includes(pool.take(8)), 'a length the last step used stays pooled');
    pool.endStep(); // closes the open layer too
    pool.beginLayer();
    pool.take(16);
    pool.endStep(); // this step used length 16 only: the arrays of length 8 are dropped
    pool.beginLayer();
    const f = pool.take(8);
    assert.ok(![a, b, e].includes(f), 'lengths a step did not use are dropped at its end');
  });

  it('through the backend: read inside a layer returns a copy that the next layer does not overwrite', async () => {
    const backend = await CpuBackend.create({ threads: 1, kernels: 'wasm' });
    try {
      const w = backend.adoptWeight(randomTensor('w', 'F32', [16, 32], 5));
      const [x] = inputs([backend], 4, 32, 6);
      backend.beginLayer();
      const y = backend.linear(x, w);
      const got = await backend.read(y);
      const kept = got.slice();
      backend.endLayer();
      backend.beginLayer();
      const z = backend.linear(x, w); // reuses y's array
      await backend.read(z);
      backend.addInto(z, z);
      backend.endLayer();
      backend.endStep();
      assert.deepEqual(got, kept);
    } finally {
      backend.dispose();
    }
  });
});
