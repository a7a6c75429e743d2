// SafetensorsWriter: tensors written whole or in parts read back exactly; misuse is refused.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsFile, SafetensorsWriter } from '../../engine/weights/safetensors';
import { ScratchDirs } from './randomCheckpointHelpers';

describe('SafetensorsWriter', () => {
  const scratch = new ScratchDirs();
  after(() => scratch.removeAll());
  const specs = [
    { name: 'b.weight', dtype: 'F32' as const, shape: [2, 3] },
    { name: 'a.weight', dtype: 'BF16' as const, shape: [5] },
    { name: 'é.bias', dtype: 'F16' as const, shape: [3] }, // a non-ASCII name: the header is padded by bytes
  ];

  it('writes tensors in name order, whole or in parts, and they read back exactly', async () => {
    const file = scratch.fresh('parts.safetensors');
    const w = new SafetensorsWriter(file, specs);
    assert.deepEqual(w.names, ['a.weight', 'b.weight', 'é.bias']);
    const a = Uint16Array.from([1, 2, 3, 4, 5]);
    const b = Float32Array.from([0.5, -1, 2, 3, 4, 5]);
    const e = Uint16Array.from([7, 8, 9]);
    w.write('a.weight', new Uint8Array(a.buffer));
    w.append('b.weight', new Uint8Array(b.buffer, 0, 8));
    w.append('b.weight', new Uint8Array(b.buffer, 8, 16));
    w.write('é.bias', new Uint8Array(e.buffer));
    w.close();

    const headerLength = Number(fs.readFileSync(file).readBigUInt64LE(0));
    assert.equal(headerLength % 8, 0, 'header padded to 8 bytes');
    const r = SafetensorsFile.open(file);
    try {
      const read = (name: string) => {
        const out = new Uint8Array(r.info(name).byteLength);
        r.readInto(name, out);
        return out;
      };
      assert.deepEqual(new Uint16Array(read('a.weight').buffer), a);
      assert.deepEqual(new Float32Array(read('b.weight').buffer), b);
      assert.deepEqual(new Uint16Array(read('é.bias').buffer), e);
      assert.deepEqual(r.info('b.weight').shape, [2, 3]);
      assert.equal(r.info('é.bias').dtype, 'F16');
    } finally {
      r.close();
    }
  });

  it('refuses tensors out of order, too many bytes, and an incomplete file', async () => {
    const file = scratch.fresh('misuse.safetensors');
    const w = new SafetensorsWriter(file, specs);
    assert.throws(() => w.write('b.weight', new Uint8Array(24)), /expected "a\.weight" next, got "b\.weight"/);
    assert.throws(() => w.write('a.weight', new Uint8Array(12)), /"a\.weight" needs 10 B, got 12 B/);
    w.append('a.weight', new Uint8Array(6));
    assert.throws(() => w.append('a.weight', new Uint8Array(6)), /"a\.weight" needs 10 B, got 12 B/);
    w.append('a.weight', new Uint8Array(4));
    assert.throws(() => w.close(), /2 tensors were not written to .*misuse\.safetensors/);
    assert.ok(path.isAbsolute(file));
  });
});
