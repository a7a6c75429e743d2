// Random checkpoints (writeRandomCheckpoint): every dtype and sharding loads through loadWeights and runs
// through the model; half-precision files hold the rounded float32 values; sharding changes nothing.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { parseConfig } from '../../engine/model/config';
import { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { checkpointLayout } from '../../engine/model/checkpointLayout';
import { loadWeights, readConfig } from '../../engine/weights/modelFolder';
import { CHUNK_ELEMENTS, CheckpointDType, writeRandomCheckpoint } from '../../engine/weights/randomCheckpoint';
import { SafetensorsFile } from '../../engine/weights/safetensors';
import { Tensor, toF32 } from '../../engine/weights/tensor';
import { TOKENIZERS_DIR } from '../sharedDir';
import { BF16, F16, roundToFormat } from './halfPrecisionReference';
import { allLogits, fixtureConfig, loadModel, ScratchDirs } from './randomCheckpointHelpers';

const TOKENS = [0, 17, 5, 300, 42, 7, 99, 3];

/** Dense layers only, tied embeddings, a q_lora path: a shape no fixture has. */
function denseTiedConfig(): Record<string, unknown> {
  return { ...fixtureConfig('lite'), n_routed_experts: null, tie_word_embeddings: true, q_lora_rank: 24, num_hidden_layers: 2 };
}

const CONFIGS: [string, () => Record<string, unknown>][] = [
  ['lite (greedy MoE, plain q_proj)', () => fixtureConfig('lite')],
  ['full (q_lora, YaRN, group-limited MoE)', () => fixtureConfig('full')],
  ['dense, tied embeddings', denseTiedConfig],
];

function loadAll(dir: string): Map<string, Tensor> {
  return loadWeights(dir, readConfig(dir));
}

function stats(a: Float32Array): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (const x of a) {
    s += x;
    s2 += x * x;
  }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean) };
}

describe('random checkpoints', function () {
  const scratch = new ScratchDirs();
  after(() => scratch.removeAll());

  for (const [label, config] of CONFIGS) {
    for (const dtype of ['f32', 'f16', 'bf16'] as CheckpointDType[]) {
      it(`${label}, ${dtype}: loads and gives finite, non-degenerate logits`, async () => {
        const dir = scratch.fresh(`${dtype}`);
        const summary = await writeRandomCheckpoint(config(), dir, { seed: 7, dtype });
        assert.deepEqual(summary.files, ['model.safetensors', 'config.json']);
        const file = SafetensorsFile.open(path.join(dir, 'model.safetensors'));
        try {
          assert.ok([...file.tensors.values()].every((t) => t.dtype === { f32: 'F32', f16: 'F16', bf16: 'BF16' }[dtype]));
          assert.equal(file.tensors.size, summary.tensors);
        } finally {
          file.close();
        }
        assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype, { f32: 'float32', f16: 'float16', bf16: 'bfloat16' }[dtype]);
        const model = loadModel(dir);
        const logits = await allLogits(model, TOKENS);
        assert.equal(logits.length, TOKENS.length * model.config.vocabSize);
        assert.ok(logits.every(Number.isFinite), 'every logit is finite');
        const { std } = stats(logits);
        assert.ok(std > 0.5 && std < 10, `logit std ${std}`);
      });
    }
  }

  describe('half precision files hold the float32 values rounded to nearest even', () => {
    // A vocabulary large enough that the embedding spans two PRNG chunks.
    const config = { ...fixtureConfig('full'), vocab_size: Math.ceil((CHUNK_ELEMENTS * 1.1) / 64) };
    let f32: Map<string, Tensor>;
    before(async () => {
      const dir = scratch.fresh('f32-reference');
      await writeRandomCheckpoint(config, dir, { seed: 11, dtype: 'f32' });
      f32 = loadAll(dir);
    });

    for (const [dtype, format] of [['f16', F16], ['bf16', BF16]] as const) {
      it(`${dtype}`, async () => {
        const dir = scratch.fresh(dtype);
        await writeRandomCheckpoint(config, dir, { seed: 11, dtype });
        const half = loadAll(dir);
        assert.equal(half.size, f32.size);
        for (const [name, t] of half) {
          const want = f32.get(name)!.data as Float32Array;
          const got = toF32(t);
          for (let i = 0; i < want.length; i++) {
            const w = roundToFormat(want[i], format);
            if (got[i] !== w) assert.fail(`${name}[${i}]: ${got[i]}, want ${w} (${want[i]} rounded)`);
          }
        }
      });
    }
  });

  for (const dtype of ['f16', 'bf16'] as CheckpointDType[]) {
    it(`${dtype} weights kept in their file dtype give the logits of the same values widened to f32`, async () => {
      const dir = scratch.fresh(`${dtype}-kernel`);
      await writeRandomCheckpoint(fixtureConfig('full'), dir, { seed: 21, dtype });
      const config = readConfig(dir);
      const half = loadWeights(dir, config);
      const widened = new Map([...half].map(([name, t]) => [name, { ...t, dtype: 'F32' as const, data: toF32(t) }]));
      const a = await allLogits(new DeepseekV2Model(config, half, new CpuBackend()), TOKENS);
      const b = await allLogits(new DeepseekV2Model(config, widened, new CpuBackend()), TOKENS);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      assert.ok(worst <= 1e-5, `max |diff| ${worst}`);
    });
  }

  describe('sharding', () => {
    const config = fixtureConfig('full');
    for (const dtype of ['f32', 'bf16'] as CheckpointDType[]) {
      it(`${dtype}: shards and index load, and give the unsharded logits bit for bit`, async () => {
        const whole = scratch.fresh('whole');
        const sharded = scratch.fresh('sharded');
        await writeRandomCheckpoint(config, whole, { seed: 3, dtype });
        const summary = await writeRandomCheckpoint(config, sharded, { seed: 3, dtype, shardBytes: 150_000 });
        const shards = summary.files.filter((f) => f.endsWith('.safetensors'));
        assert.ok(shards.length >= 3, `${shards.length} shards`);
        shards.forEach((f, i) => assert.equal(f, `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
        assert.ok(!fs.existsSync(path.join(sharded, 'model.safetensors')));

        const index = JSON.parse(fs.readFileSync(path.join(sharded, 'model.safetensors.index.json'), 'utf8'));
        const layout = checkpointLayout(parseConfig(config));
        assert.deepEqual(Object.keys(index.weight_map).sort(), layout.map((s) => s.name).sort());
        assert.equal(index.metadata.total_size, summary.bytes);
        let sum = 0;
        for (const f of shards) {
          const st = SafetensorsFile.open(path.join(sharded, f));
          try {
            for (const t of st.tensors.values()) {
              assert.equal(index.weight_map[t.name], f);
              sum += t.byteLength;
            }
            // Only a tensor larger than the limit may exceed it, alone in its shard.
            const bytes = [...st.tensors.values()].reduce((a, t) => a + t.byteLength, 0);
            assert.ok(bytes <= 150_000 || st.tensors.size === 1, `${f}: ${bytes} B`);
          } finally {
            st.close();
          }
        }
        assert.equal(sum, summary.bytes);

        const a = await allLogits(loadModel(whole), TOKENS);
        const b = await allLogits(loadModel(sharded), TOKENS);
        assert.deepEqual(Buffer.from(b.buffer, b.byteOffset, b.byteLength), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
      });
    }
  });

  it('is deterministic in the seed', async () => {
    const config = fixtureConfig('lite');
    const [a, b, c] = ['a', 'b', 'c'].map((l) => scratch.fresh(l));
    await writeRandomCheckpoint(config, a, { seed: 42 });
    await writeRandomCheckpoint(config, b, { seed: 42 });
    await writeRandomCheckpoint(config, c, { seed: 43 });
    const bytes = (d: string) => fs.readFileSync(path.join(d, 'model.safetensors'));
    assert.ok(bytes(a).equals(bytes(b)), 'same seed, same bytes');
    const ea = loadAll(a).get('model.embed_tokens.weight')!.data;
    const ec = loadAll(c).get('model.embed_tokens.weight')!.data;
    let same = 0;
    for (let i = 0; i < ea.length; i++) if (ea[i] === ec[i]) same++;
    assert.ok(same < ea.length / 1000, `${same} of ${ea.length} equal across seeds`);
  });

  it('gives the same bytes drawn by worker threads as on the calling thread', async () => {
    const config = fixtureConfig('full');
    const [one, three] = ['one', 'three'].map((l) => scratch.fresh(l));
    await writeRandomCheckpoint(config, one, { seed: 8, dtype: 'f16', shardBytes: 300_000, threads: 1 });
    const summary = await writeRandomCheckpoint(config, three, { seed: 8, dtype: 'f16', shardBytes: 300_000, threads: 3 });
    for (const f of summary.files) assert.ok(fs.readFileSync(path.join(one, f)).equals(fs.readFileSync(path.join(three, f))), f);
  });

  it('reports progress up to the total size', async () => {
    const seen: number[] = [];
    const totals = new Set<number>();
    const summary = await writeRandomCheckpoint({ ...fixtureConfig('lite'), vocab_size: 40_000 }, scratch.fresh('progress'), {
      dtype: 'bf16',
      shardBytes: 2_000_000,
      onProgress: ({ writtenBytes, totalBytes }) => {
        totals.add(totalBytes);
        seen.push(writtenBytes);
      },
    });
    assert.ok(seen.length > 2, `${seen.length} reports`);
    assert.ok(seen.every((b, i) => i === 0 || b > seen[i - 1]), 'increasing');
    assert.equal(seen[seen.length - 1], summary.bytes);
    assert.deepEqual([...totals], [summary.bytes]);
  });

  it('refuses a checkpoint larger than the free disk space before writing anything', async () => {
    const dir = scratch.fresh('huge');
    await assert.rejects(() => writeRandomCheckpoint({ ...fixtureConfig('lite'), vocab_size: 2 ** 40 }, dir), /huge: needs \d+\.\d+ GiB but only \d+\.\d+ GiB are free/);
    assert.ok(!fs.existsSync(dir));
  });

  it('draws each tensor from its fixture-README distribution', async () => {
    const dir = scratch.fresh('stats');
    const config = fixtureConfig('full');
    await writeRandomCheckpoint(config, dir, { seed: 5 });
    const w = loadAll(dir);
    const check = (name: string, mean: number, std: number) => {
      const s = stats(w.get(name)!.data as Float32Array);
      assert.ok(Math.abs(s.mean - mean) < 0.1 * std + 1e-3, `${name}: mean ${s.mean}, want ${mean}`);
      assert.ok(Math.abs(s.std - std) < 0.1 * std, `${name}: std ${s.std}, want ${std}`);
    };
    const all = (prefix: string) => [...w.values()].filter((t) => t.name.endsWith(prefix)).map((t) => t.data as Float32Array);
    const joined = (arrays: Float32Array[]) => {
      const out = new Float32Array(arrays.reduce((a, x) => a + x.length, 0));
      arrays.reduce((off, x) => (out.set(x, off), off + x.length), 0);
      return out;
    };
    check('model.embed_tokens.weight', 0, 1);
    const norms = stats(joined([...w.values()].filter((t) => t.shape.length === 1).map((t) => t.data as Float32Array)));
    assert.ok(Math.abs(norms.mean - 1) < 0.01 && Math.abs(norms.std - 0.1) < 0.01, `norms: ${JSON.stringify(norms)}`);
    check('lm_head.weight', 0, 2 / 8);
    check('model.layers.0.self_attn.q_b_proj.weight', 0, 1.5 / Math.sqrt(48));
    check('model.layers.0.self_attn.kv_b_proj.weight', 0, 1 / Math.sqrt(32));
    check('model.layers.0.mlp.down_proj.weight', 0, 1 / Math.sqrt(128));
    const router = stats(joined(all('.mlp.gate.weight')));
    assert.ok(Math.abs(router.std - 0.25) < 0.025, `router std ${router.std}`);
  });

  it('writes a parsed config back as an equivalent config.json', async () => {
    const parsed = parseConfig(fixtureConfig('full'));
    const dir = scratch.fresh('parsed');
    await writeRandomCheckpoint(parsed, dir, { seed: 1 });
    assert.deepEqual(readConfig(dir), parsed);
  });

  describe('with a tokenizer', () => {
    const tokenizerDir = path.join(TOKENIZERS_DIR, 'deepseek-llm');

    it('copies the tokenizer, raises vocab_size to cover it and takes bos/eos from it', async () => {
      const dir = scratch.fresh('tok');
      const summary = await writeRandomCheckpoint(fixtureConfig('lite'), dir, { seed: 1, dtype: 'bf16', tokenizerDir });
      for (const f of ['tokenizer.json', 'tokenizer_config.json']) assert.ok(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(tokenizerDir, f))), f);
      const config = readConfig(dir);
      assert.equal(config.vocabSize, 100015);
      assert.equal(config.bosTokenId, 100000);
      assert.equal(config.eosTokenId, 100001);
      assert.match(summary.notes.join('\n'), /raised vocab_size from 512 to 100015/);
      assert.match(summary.notes.join('\n'), /set bos_token_id to 100000 \(was 0\)/);
      const logits = await allLogits(loadModel(dir), [100000, 1000, 99999]);
      assert.ok(logits.every(Number.isFinite));
    });

    it('keeps a vocab_size that already covers the tokenizer, and says so', async () => {
      const dir = scratch.fresh('tok-big');
      const summary = await writeRandomCheckpoint({ ...fixtureConfig('lite'), vocab_size: 102400, bos_token_id: 100000, eos_token_id: 100001, num_hidden_layers: 1 }, dir, { dtype: 'bf16', tokenizerDir });
      assert.equal(readConfig(dir).vocabSize, 102400);
      assert.deepEqual(summary.notes.slice(1), ['vocab_size 102400 already covers the tokenizer\'s 100015 ids']);
    });

    it('refuses a folder without tokenizer.json before writing anything', async () => {
      const dir = scratch.fresh('no-tok');
      await assert.rejects(() => writeRandomCheckpoint(fixtureConfig('lite'), dir, { tokenizerDir: path.dirname(dir) }), /tokenizer\.json: missing/);
      assert.ok(!fs.existsSync(dir));
    });
  });

  it('refuses a folder that is not empty, and leaves it alone', async () => {
    const dir = scratch.fresh('busy');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    await assert.rejects(() => writeRandomCheckpoint(fixtureConfig('lite'), dir), /busy: exists and is not empty/);
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
  });

  it('rejects a malformed config with the key named', async () => {
    const dir = scratch.fresh('bad');
    await assert.rejects(() => writeRandomCheckpoint({ ...fixtureConfig('lite'), kv_lora_rank: 'big' }, dir, { configSource: 'my.json' }), /my\.json: "kv_lora_rank" must be an integer/);
    assert.ok(!fs.existsSync(dir));
  });
});
