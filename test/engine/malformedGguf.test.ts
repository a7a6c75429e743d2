// Broken GGUF files: each gives one line of error naming the file and the problem (the key, the tensor, the
// byte counts), through the engine's loader and through the `latent` command line, and never another kind of crash.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../../engine/engine';
import { ModelTokenizer } from '../../engine/tokenizer/modelTokenizer';
import { defaultModelDir } from '../../engine/defaultModel';
import type { MetadataEntry } from '../../engine/weights/gguf/deepseek2Metadata';
import { exportGguf } from '../../engine/weights/gguf/exportGguf';
import { GgufValue, GgufValueType } from '../../engine/weights/gguf/ggufFormat';
import { GgufError, GgufFile } from '../../engine/weights/gguf/ggufReader';
import { GgufWriter } from '../../engine/weights/gguf/ggufWriter';
import { fixtureDir } from './fixtureModel';
import { LATENT } from './randomCheckpointHelpers';

/** Loads a model source the way every command does; resolves to the error's message. */
async function loadError(file: string): Promise<Error> {
  try {
    const engine = await Engine.load(file, { backend: 'cpu-reference' });
    engine.dispose();
  } catch (e) {
    return e as Error;
  }
  throw new Error(`${file} loaded`);
}

async function assertFails(file: string, ...parts: RegExp[]): Promise<void> {
  const e = await loadError(file);
  assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
  assert.ok(e.message.startsWith(`${file}`), `names the file: ${e.message}`);
  for (const p of parts) assert.match(e.message, p);
}

/** Byte offset of the ggml type id in tensor `name`'s info (after its name, n_dims and dims). */
function typeFieldOf(bytes: Buffer, name: string): { dims: number; at: number } {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(name)));
  const at = bytes.indexOf(Buffer.concat([len, Buffer.from(name)]));
  assert.ok(at > 0, `${name} not found`);
  const afterName = at + 8 + Buffer.byteLength(name);
  const nDims = bytes.readUInt32LE(afterName);
  return { dims: afterName + 4, at: afterName + 4 + 8 * nDims };
}

/** The file rewritten with its metadata and tensors changed by `edit`. */
function rewrite(src: string, dst: string, edit: { metadata?: (m: MetadataEntry[]) => MetadataEntry[]; dropTensor?: string }): string {
  const f = GgufFile.open(src);
  try {
    const metadata = (edit.metadata ?? ((m) => m))([...f.metadata.entries()]);
    const tensors = [...f.tensors.values()].filter((t) => t.name !== edit.dropTensor);
    const w = new GgufWriter(dst, metadata, tensors.map((t) => ({ name: t.name, ne: t.ne, dtype: t.dtype })), f.alignment);
    for (const t of tensors) {
      const bytes = new Uint8Array(t.byteLength);
      f.readInto(t.name, bytes);
      w.append(t.name, bytes);
    }
    w.close();
  } finally {
    f.close();
  }
  return dst;
}

const setKey = (key: string, value: GgufValue) => (m: MetadataEntry[]): MetadataEntry[] => m.map(([k, v]) => [k, k === key ? value : v]);

describe('malformed GGUF files', function () {
  this.timeout(120_000);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-bad-gguf-'));
  const good = path.join(root, 'lite.gguf');
  let bytes: Buffer;
  let count = 0;
  const variant = (label: string, data: Buffer): string => {
    const file = path.join(root, `${count++}-${label}.gguf`);
    fs.writeFileSync(file, data);
    return file;
  };
  const fresh = (label: string) => path.join(root, `${count++}-${label}.gguf`);
  before(() => {
    exportGguf(fixtureDir('lite'), good, { type: 'f32' });
    bytes = fs.readFileSync(good);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('loads the unbroken file', async () => {
    const engine = await Engine.load(good, { backend: 'cpu-reference' });
    assert.equal(engine.config.numLayers, 3);
    engine.dispose();
  });

  it('truncated inside the header', async () => {
    await assertFails(variant('short-header', bytes.subarray(0, 300)), /truncated: the file \(300 B\) ends inside/);
  });

  it('bad magic', async () => {
    const b = Buffer.from(bytes);
    b.write('GGML', 0, 'latin1');
    await assertFails(variant('magic', b), /bad magic 0x4c4d4747 \(not a GGUF file/);
  });

  it('unsupported version', async () => {
    const b = Buffer.from(bytes);
    b.writeUInt32LE(4, 4);
    await assertFails(variant('version', b), /GGUF version 4 is not supported/);
  });

  it('wrong tensor type id', async () => {
    const b = Buffer.from(bytes);
    b.writeUInt32LE(99, typeFieldOf(b, 'blk.0.attn_q.weight').at);
    await assertFails(variant('type', b), /tensor "blk\.0\.attn_q\.weight": ggml type id 99 is not supported/);
  });

  it('a Q5_0 tensor whose rows are not whole 32-value blocks', async () => {
    const b = Buffer.from(bytes);
    b.writeUInt32LE(6, typeFieldOf(b, 'blk.0.attn_k_b.weight').at);
    await assertFails(variant('q5_0-rows', b), /tensor "blk\.0\.attn_k_b\.weight" \[16,32,4\]: Q5_0: a row of 16 elements is not a whole number of 32-element blocks/);
  });

  it('a tensor whose shape disagrees with the metadata', async () => {
    const b = Buffer.from(bytes);
    const { dims } = typeFieldOf(b, 'blk.0.attn_q.weight');
    assert.equal(Number(b.readBigUInt64LE(dims + 8)), 96);
    b.writeBigUInt64LE(48n, dims + 8);
    await assertFails(variant('shape', b), /tensor "blk\.0\.attn_q\.weight" has ne \[64,48\], but the metadata implies \[64,96\]/);
  });

  it('a missing metadata key', async () => {
    const file = rewrite(good, fresh('no-kv-lora'), { metadata: (m) => m.filter(([k]) => k !== 'deepseek2.attention.kv_lora_rank') });
    await assertFails(file, /metadata "deepseek2\.attention\.kv_lora_rank" is missing/);
  });

  it('a metadata value of the wrong type', async () => {
    const file = rewrite(good, fresh('kv-lora-string'), { metadata: setKey('deepseek2.attention.kv_lora_rank', { type: GgufValueType.STRING, value: '32' }) });
    await assertFails(file, /metadata "deepseek2\.attention\.kv_lora_rank" must be a non-negative integer \(got string 32\)/);
  });

  it('another architecture', async () => {
    const file = rewrite(good, fresh('llama'), { metadata: setKey('general.architecture', { type: GgufValueType.STRING, value: 'llama' }) });
    await assertFails(file, /metadata "general\.architecture" is "llama"; only "deepseek2"/);
  });

  it('an unsupported gating function (DeepSeek-V3 sigmoid)', async () => {
    const file = rewrite(good, fresh('sigmoid'), { metadata: setKey('deepseek2.expert_gating_func', { type: GgufValueType.UINT32, value: 2 }) });
    await assertFails(file, /metadata "deepseek2\.expert_gating_func" is 2; only 1 \(softmax/);
  });

  it('a missing tensor', async () => {
    const file = rewrite(good, fresh('no-experts'), { dropTensor: 'blk.1.ffn_gate_exps.weight' });
    await assertFails(file, /tensor "blk\.1\.ffn_gate_exps\.weight" is missing/);
  });

  it('the MLA keys without the split tensors', async () => {
    const legacy = fresh('legacy');
    exportGguf(fixtureDir('lite'), legacy, { type: 'f32', legacyKvB: true });
    const file = rewrite(legacy, fresh('mla-keys'), {
      metadata: (m) => [...m, ['deepseek2.attention.key_length_mla', { type: GgufValueType.UINT32, value: 24 }], ['deepseek2.attention.value_length_mla', { type: GgufValueType.UINT32, value: 16 }]],
    });
    await assertFails(file, /metadata "deepseek2\.attention\.key_length" must be kv_lora_rank \+ rope\.dimension_count/);
  });

  it('tensor data beyond the end of the file', async () => {
    await assertFails(variant('short-data', bytes.subarray(0, bytes.length - 100)), /tensor "output\.weight": data \[\d+, \d+\) lies beyond the end of the file \(\d+ B\); the file is truncated/);
  });

  it('an unsupported pre-tokenizer, naming the key', () => {
    const tiny = fresh('tiny');
    exportGguf(defaultModelDir(), tiny, { type: 'f16' });
    const file = rewrite(tiny, fresh('qwen2'), {
      metadata: (m) => m.filter(([k]) => k !== 'latent.tokenizer.pre_tokenizer').map(([k, v]) => [k, k === 'tokenizer.ggml.pre' ? { type: GgufValueType.STRING, value: 'qwen2' } : v]),
    });
    assert.throws(() => ModelTokenizer.load(file), (e: Error) => /metadata "tokenizer\.ggml\.pre" "qwen2" is not supported \(deepseek-llm, deepseek-coder\)/.test(e.message) && !e.message.includes('\n'));
  });

  it('cut anywhere, the file gives a GgufError, never another kind of failure', async () => {
    const header = GgufFile.open(good);
    const dataOffset = header.dataOffset;
    header.close();
    for (let end = 0; end < dataOffset + 4096; end += 61) {
      const e = await loadError(variant(`cut-${end}`, bytes.subarray(0, end)));
      assert.ok(e instanceof GgufError, `cut at ${end}: ${e.name}: ${e.message}`);
      assert.ok(!e.message.includes('\n'));
    }
  });

  it('the command line prints one line and exits 2', () => {
    const b = Buffer.from(bytes);
    b.writeUInt32LE(4, 4);
    const file = variant('cli-version', b);
    const r = spawnSync(process.execPath, [LATENT, 'logits', '--model', file, '--tokens', '0,5'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.equal(r.stderr, `latent: ${file}: GGUF version 4 is not supported (versions 2 and 3)\n`);
  });
});
