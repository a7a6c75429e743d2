// Broken model folders: every malformed safetensors file, shard index and config.json gives one error whose
// message names the file at fault and the tensor or key.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadWeights, readConfig } from '../../engine/weights/modelFolder';
import { writeRandomCheckpoint } from '../../engine/weights/randomCheckpoint';
import { copyDir, editHeader, fixtureConfig, ScratchDirs } from './randomCheckpointHelpers';

/** Asserts that `fn` throws one line of error naming every one of `parts` (file paths, tensor names, keys). */
export function assertNamedError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `"${e.message}" should name ${p}`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

function load(dir: string): void {
  loadWeights(dir, readConfig(dir));
}

describe('malformed model folders', function () {
  const scratch = new ScratchDirs();
  let single: string;
  let sharded: string;
  before(async () => {
    single = scratch.fresh('single');
    sharded = scratch.fresh('sharded');
    await writeRandomCheckpoint(fixtureConfig('full'), single, { seed: 1 });
    await writeRandomCheckpoint(fixtureConfig('full'), sharded, { seed: 1, shardBytes: 300_000 });
  });
  after(() => scratch.removeAll());

  /** A copy of the single-file checkpoint, and its model.safetensors. */
  function brokenCopy(label: string): { dir: string; file: string } {
    const dir = scratch.fresh(label);
    copyDir(single, dir);
    return { dir, file: path.join(dir, 'model.safetensors') };
  }

  it('the unbroken checkpoints load', async () => {
    load(single);
    load(sharded);
  });

  describe('safetensors', () => {
    it('a truncated file names the tensor cut short', async () => {
      const { dir, file } = brokenCopy('truncated');
      fs.truncateSync(file, fs.statSync(file).size - 100);
      assertNamedError(() => load(dir), file, '"model.norm.weight"', /truncated/);
    });

    it('a file shorter than its header length', async () => {
      const { dir, file } = brokenCopy('short');
      fs.truncateSync(file, 4);
      assertNamedError(() => load(dir), file, /too short/);
    });

    it('a header length past the end of the file', async () => {
      const { dir, file } = brokenCopy('header-length');
      const fd = fs.openSync(file, 'r+');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(2n ** 40n);
      fs.writeSync(fd, len, 0, 8, 0);
      fs.closeSync(fd);
      assertNamedError(() => load(dir), file, /header length 1099511627776 B does not fit/);
    });

    it('a header that is not valid JSON', async () => {
      const { dir, file } = brokenCopy('bad-json');
      const fd = fs.openSync(file, 'r+');
      fs.writeSync(fd, Buffer.from('x'), 0, 1, 8);
      fs.closeSync(fd);
      assertNamedError(() => load(dir), file, /header is not valid JSON/);
    });

    it('a header that is not a JSON object', async () => {
      const { dir, file } = brokenCopy('array');
      const json = Buffer.from('[1,2]   ');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      fs.writeFileSync(file, Buffer.concat([len, json]));
      assertNamedError(() => load(dir), file, /not a JSON object/);
    });

    for (const dtype of ['F64', 'I8', 'F8_E4M3', 7]) {
      it(`an unsupported dtype (${dtype})`, async () => {
        const { dir, file } = brokenCopy(`dtype-${dtype}`);
        editHeader(file, (h) => (h['lm_head.weight'].dtype = dtype));
        assertNamedError(() => load(dir), file, '"lm_head.weight"', `dtype ${JSON.stringify(dtype)} is not supported`);
      });
    }

    it('a shape that disagrees with its data_offsets', async () => {
      const { dir, file } = brokenCopy('shape-offsets');
      editHeader(file, (h) => (h['model.layers.1.mlp.gate.weight'].shape = [16, 63]));
      assertNamedError(() => load(dir), file, '"model.layers.1.mlp.gate.weight"', /data_offsets span 4096 B but F32 \[16,63\] needs 4032 B/);
    });

    it('malformed data_offsets', async () => {
      for (const offsets of [[-4, 252], [256, 0], 'all', [0]]) {
        const { dir, file } = brokenCopy('offsets');
        editHeader(file, (h) => (h['model.norm.weight'].data_offsets = offsets));
        assertNamedError(() => load(dir), file, '"model.norm.weight"', /bad data_offsets/);
      }
    });

    it('a malformed shape', async () => {
      const { dir, file } = brokenCopy('bad-shape');
      editHeader(file, (h) => (h['model.norm.weight'].shape = [64.5]));
      assertNamedError(() => load(dir), file, '"model.norm.weight"', /bad shape/);
    });

    it('overlapping tensors name both', async () => {
      const { dir, file } = brokenCopy('overlap');
      editHeader(file, (h) => (h['model.layers.0.post_attention_layernorm.weight'].data_offsets = [...h['model.layers.0.input_layernorm.weight'].data_offsets]));
      assertNamedError(() => load(dir), file, '"model.layers.0.input_layernorm.weight"', '"model.layers.0.post_attention_layernorm.weight"', /overlap/);
    });

    it('a tensor stored transposed (its shape disagrees with config.json)', async () => {
      const { dir, file } = brokenCopy('transposed');
      editHeader(file, (h) => (h['lm_head.weight'].shape = [64, 600]));
      assertNamedError(() => load(dir), file, '"lm_head.weight"', /shape \[64,600\], but config\.json implies \[600,64\]/);
    });

    it('a config.json whose shapes disagree with the weights', async () => {
      const { dir, file } = brokenCopy('config-shape');
      const config = { ...fixtureConfig('full'), kv_lora_rank: 16 };
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
      assertNamedError(() => load(dir), file, '"model.layers.0.self_attn.kv_a_proj_with_mqa.weight"', /config\.json implies \[32,64\]/);
    });

    it('a missing tensor', async () => {
      const { dir, file } = brokenCopy('missing-tensor');
      editHeader(file, (h) => delete h['model.layers.2.mlp.experts.7.up_proj.weight']);
      assertNamedError(() => load(dir), file, '"model.layers.2.mlp.experts.7.up_proj.weight"', /missing/);
    });

    it('a folder where model.safetensors should be', async () => {
      const { dir, file } = brokenCopy('directory');
      fs.rmSync(file);
      fs.mkdirSync(file);
      assertNamedError(() => load(dir), file, /not a regular file/);
    });

    it('no safetensors at all', async () => {
      const dir = scratch.fresh('empty');
      fs.mkdirSync(dir);
      fs.copyFileSync(path.join(single, 'config.json'), path.join(dir, 'config.json'));
      assertNamedError(() => load(dir), dir, /no model\.safetensors/);
    });
  });

  describe('sharded', () => {
    function brokenShards(label: string): string {
      const dir = scratch.fresh(label);
      copyDir(sharded, dir);
      return dir;
    }
    const index = (dir: string) => path.join(dir, 'model.safetensors.index.json');

    it('a missing shard', async () => {
      const dir = brokenShards('missing-shard');
      const shard = path.join(dir, 'model-00002-of-00004.safetensors');
      fs.rmSync(shard);
      assertNamedError(() => load(dir), shard, /missing/);
    });

    it('a tensor missing from the index names the index', async () => {
      const dir = brokenShards('missing-entry');
      const parsed = JSON.parse(fs.readFileSync(index(dir), 'utf8'));
      delete parsed.weight_map['model.layers.1.self_attn.o_proj.weight'];
      fs.writeFileSync(index(dir), JSON.stringify(parsed));
      assertNamedError(() => load(dir), index(dir), '"model.layers.1.self_attn.o_proj.weight"');
    });

    it('an index pointing a tensor at the wrong shard names the shard and tensor', async () => {
      const dir = brokenShards('wrong-shard');
      const parsed = JSON.parse(fs.readFileSync(index(dir), 'utf8'));
      const name = 'model.norm.weight';
      const wrong = parsed.weight_map[name] === 'model-00001-of-00004.safetensors' ? 'model-00002-of-00004.safetensors' : 'model-00001-of-00004.safetensors';
      parsed.weight_map[name] = wrong;
      fs.writeFileSync(index(dir), JSON.stringify(parsed));
      assertNamedError(() => load(dir), path.join(dir, wrong), `"${name}"`, /missing/);
    });

    it('an index that is not valid JSON, or has no weight_map, or escapes the folder', async () => {
      for (const [text, pattern] of [
        ['{"weight_map": ', /not valid JSON/],
        ['{"metadata": {}}', /no "weight_map"/],
        ['{"weight_map": {"model.norm.weight": "../model.safetensors"}}', /bad file name for "model\.norm\.weight"/],
      ] as const) {
        const dir = brokenShards('bad-index');
        fs.writeFileSync(index(dir), text);
        assertNamedError(() => load(dir), index(dir), pattern);
      }
    });

    it('a truncated shard names the shard and tensor', async () => {
      const dir = brokenShards('truncated-shard');
      const shard = path.join(dir, 'model-00004-of-00004.safetensors');
      fs.truncateSync(shard, fs.statSync(shard).size - 1);
      assertNamedError(() => load(dir), shard, /"[^"]+"/, /truncated/);
    });
  });

  describe('config.json', () => {
    function configDir(label: string, edit: (c: Record<string, unknown>) => void): { dir: string; file: string } {
      const dir = scratch.fresh(label);
      fs.mkdirSync(dir);
      const config = fixtureConfig('full');
      edit(config);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
      return { dir, file: path.join(dir, 'config.json') };
    }
    function rejects(label: string, edit: (c: Record<string, unknown>) => void, key: string, pattern?: RegExp): void {
      it(label, async () => {
        const { dir, file } = configDir(label.replace(/\W+/g, '-'), edit);
        assertNamedError(() => readConfig(dir), file, `"${key}"`, ...(pattern ? [pattern] : []));
      });
    }

    describe('missing keys', () => {
      for (const key of [
        'vocab_size',
        'hidden_size',
        'num_hidden_layers',
        'num_attention_heads',
        'kv_lora_rank',
        'qk_nope_head_dim',
        'qk_rope_head_dim',
        'v_head_dim',
        'intermediate_size',
        'moe_intermediate_size',
        'num_experts_per_tok',
      ]) {
        rejects(key, (c) => delete c[key], key);
      }
      rejects('rope_scaling.factor', (c) => delete (c.rope_scaling as Record<string, unknown>).factor, 'rope_scaling.factor', /missing/);
      rejects('rope_scaling.original_max_position_embeddings', (c) => delete (c.rope_scaling as Record<string, unknown>).original_max_position_embeddings, 'rope_scaling.original_max_position_embeddings', /missing/);
    });

    describe('wrong types', () => {
      rejects('hidden_size as a string', (c) => (c.hidden_size = '64'), 'hidden_size', /integer/);
      rejects('a fractional kv_lora_rank', (c) => (c.kv_lora_rank = 32.5), 'kv_lora_rank', /integer/);
      rejects('q_lora_rank as a string', (c) => (c.q_lora_rank = 'none'), 'q_lora_rank', /integer/);
      rejects('a zero num_hidden_layers', (c) => (c.num_hidden_layers = 0), 'num_hidden_layers', />= 1/);
      rejects('norm_topk_prob as a string', (c) => (c.norm_topk_prob = 'yes'), 'norm_topk_prob', /true or false/);
      rejects('tie_word_embeddings as a number', (c) => (c.tie_word_embeddings = 1), 'tie_word_embeddings', /true or false/);
      rejects('rope_theta as a string', (c) => (c.rope_theta = '1e4'), 'rope_theta', /finite number/);
      rejects('routed_scaling_factor as null', (c) => (c.routed_scaling_factor = null), 'routed_scaling_factor', /finite number/);
      rejects('rope_scaling as a string', (c) => (c.rope_scaling = 'yarn'), 'rope_scaling', /null or an object/);
      rejects('rope_scaling.beta_fast as a string', (c) => ((c.rope_scaling as Record<string, unknown>).beta_fast = 'fast'), 'rope_scaling.beta_fast', /finite number/);
      rejects('a negative rms_norm_eps', (c) => (c.rms_norm_eps = -1e-6), 'rms_norm_eps', /positive/);
    });

    describe('contradictory or unsupported keys', () => {
      rejects('num_experts_per_tok > n_routed_experts', (c) => (c.num_experts_per_tok = 17), 'num_experts_per_tok', /exceeds "n_routed_experts" \(16\)/);
      rejects('group-limited top-k with n_routed_experts not divisible by n_group', (c) => (c.n_group = 5), 'n_group', /not divisible/);
      rejects('topk_group > n_group', (c) => (c.topk_group = 5), 'topk_group', /exceeds "n_group"/);
      rejects('more experts per token than the selected groups hold', (c) => (c.num_experts_per_tok = 9), 'num_experts_per_tok', /topk_group/);
      rejects('num_key_value_heads != num_attention_heads', (c) => (c.num_key_value_heads = 2), 'num_key_value_heads');
      rejects('an odd qk_rope_head_dim', (c) => (c.qk_rope_head_dim = 15), 'qk_rope_head_dim', /even/);
      rejects('a bos_token_id outside the vocabulary', (c) => (c.bos_token_id = 600), 'bos_token_id', /outside the vocabulary/);
      rejects('an unknown rope_scaling type', (c) => ((c.rope_scaling as Record<string, unknown>).type = 'linear'), 'rope_scaling.type', /"linear" is not supported/);
      rejects('a dynamic rope_scaling', (c) => (c.rope_scaling = { type: 'dynamic', factor: 2 }), 'rope_scaling.type', /"dynamic"/);
      rejects('an unknown topk_method', (c) => (c.topk_method = 'noaux_tc'), 'topk_method', /not supported/);
      rejects('another model_type', (c) => (c.model_type = 'llama'), 'model_type');
      rejects('another activation', (c) => (c.hidden_act = 'gelu'), 'hidden_act');
      rejects('sigmoid scoring', (c) => (c.scoring_func = 'sigmoid'), 'scoring_func');
      rejects('attention_bias', (c) => (c.attention_bias = true), 'attention_bias');
    });

    it('config.json that is not valid JSON', async () => {
      const { dir, file } = configDir('not-json', () => {});
      fs.writeFileSync(file, '{"vocab_size": 600,');
      assertNamedError(() => readConfig(dir), file, /not valid JSON/);
    });

    it('config.json that is not an object', async () => {
      const { dir, file } = configDir('array', () => {});
      fs.writeFileSync(file, '[]');
      assertNamedError(() => readConfig(dir), file, /expected a JSON object/);
    });

    it('a folder without config.json', async () => {
      const dir = scratch.fresh('no-config');
      fs.mkdirSync(dir);
      assertNamedError(() => readConfig(dir), path.join(dir, 'config.json'), /missing/);
    });
  });
});
