// `latent info`: the parameter count equals the reference's (expected.json), the weight bytes the file's tensors,
// and the backend line says what auto picks here and why (lavapipe or no adapter: the CPU).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureDir } from './fixtureModel';
import { LATENT } from './randomCheckpointHelpers';
import { webgpuUnavailable } from './webgpuAdapter';

describe('latent info', function () {
  this.timeout(60_000);

  for (const name of ['lite', 'full']) {
    it(`${name}: parameters as the reference counts them, weight bytes, the backend auto picks and the adapter`, async () => {
      const expected = JSON.parse(fs.readFileSync(path.join(fixtureDir(name), 'expected.json'), 'utf8'));
      const r = spawnSync(process.execPath, [LATENT, 'info', '--model', fixtureDir(name)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const params = Number(/^parameters: ([\d,]+)/m.exec(r.stdout)![1].replace(/,/g, ''));
      assert.equal(params, expected.weights.num_parameters);
      assert.match(r.stdout, new RegExp(`^weight bytes: ${(params * 4).toLocaleString('en-US')} \\(F32`, 'm'));
      const reason = await webgpuUnavailable();
      if (reason) assert.match(r.stdout, /^webgpu adapter: none/m);
      else assert.match(r.stdout, /^webgpu adapter: .*\n {2}features: .*\n {2}limits: maxBufferSize [\d,]+, maxStorageBufferBindingSize.*\n {2}f16 weights: /m);
      // A software adapter (lavapipe) or none: auto keeps the CPU.
      if (reason || /software/.test(r.stdout)) assert.match(r.stdout, /^backend: auto -> cpu \(/m);
      else assert.match(r.stdout, /^backend: auto -> webgpu/m);
    });
  }

  it('the f16 weights line: native f16 reads where the adapter has shader-f16, the u32-word decode when turned off', async function () {
    const reason = await webgpuUnavailable();
    if (reason) this.skip();
    const info = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [LATENT, 'info', '--model', fixtureDir('lite')], { encoding: 'utf8', env: { ...process.env, ...env } });
    const on = info({});
    assert.equal(on.status, 0, on.stderr);
    if (/^ {2}features: .*shader-f16/m.test(on.stdout)) assert.match(on.stdout, /^ {2}f16 weights: native f16 reads, f32 arithmetic \(shader-f16\)$/m);
    else assert.match(on.stdout, /^ {2}f16 weights: decoded from u32 words, f32 arithmetic \(the adapter lacks shader-f16\)$/m);
    const off = info({ LATENT_WEBGPU_SHADER_F16: '0' });
    assert.equal(off.status, 0, off.stderr);
    assert.match(off.stdout, /^ {2}f16 weights: decoded from u32 words, f32 arithmetic \((shader-f16 turned off by LATENT_WEBGPU_SHADER_F16=0|the adapter lacks shader-f16)\)$/m);
  });
});
