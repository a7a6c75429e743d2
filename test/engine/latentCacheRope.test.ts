// Re-positioning a cached k_pe (rotated at its old position) to a new position must give what the forward's own
// rotation gives at the new position, at every position the model accepts, YaRN included.
import * as assert from 'node:assert/strict';
import { parseConfig } from '../../engine/model/config';
import { Rope } from '../../engine/model/rope';
import { v2LiteConfig } from '../bench/benchModel';
import { loadFixtureModel, maxAbsDiff } from './fixtureModel';

/** The largest error of reposition(p -> q) against a direct rotation at q, over every q in [0, max). */
function worstRepositionError(rope: Rope, dr: number, maxPositions: number): { error: number; at: [number, number] } {
  const x = Float32Array.from({ length: dr }, (_, i) => Math.sin(i * 1.7 + 0.3) * 2);
  const moved = new Float32Array(dr), direct = new Float32Array(dr);
  let worst = { error: 0, at: [0, 0] as [number, number] };
  for (let q = 0; q < maxPositions; q++) {
    // Sources spread over the whole range, near and far: small moves (typing) and big ones.
    const p = q % 3 === 0 ? (q * 7919 + 13) % maxPositions : Math.max(0, q - 1 - (q % 97));
    moved.set(x);
    rope.applyInterleaved(moved, 0, p);
    rope.reposition(moved, 0, p, q);
    direct.set(x);
    rope.applyInterleaved(direct, 0, q);
    const error = maxAbsDiff(moved, direct);
    if (error > worst.error) worst = { error, at: [p, q] };
  }
  return worst;
}

describe('latent cache: k_pe re-positioning', () => {
  it('DeepSeek-V2-Lite (YaRN factor 40 over 4,096): exact to 1e-5 at every position up to 163,840', async () => {
    const config = v2LiteConfig(1);
    assert.equal(config.maxPositionEmbeddings, 163840);
    assert.equal(config.ropeScaling?.factor, 40);
    const { error, at } = worstRepositionError(new Rope(config), config.qkRopeHeadDim, config.maxPositionEmbeddings);
    assert.ok(error <= 1e-5, `reposition ${at[0]} -> ${at[1]} misses a direct rotation by ${error}`);
  });

  for (const name of ['lite', 'full', 'long'] as const) {
    it(`${name} fixture: exact to 1e-5 at every position up to its max_position_embeddings`, async () => {
      const { config, rope } = loadFixtureModel(name);
      const { error, at } = worstRepositionError(rope, config.qkRopeHeadDim, config.maxPositionEmbeddings);
      assert.ok(error <= 1e-5, `reposition ${at[0]} -> ${at[1]} misses a direct rotation by ${error}`);
    });
  }

  it('a YaRN cos/sin multiplier (mscale != mscale_all_dim) is applied once, not twice', async () => {
    const raw = {
      model_type: 'deepseek_v2', vocab_size: 16, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1,
      num_attention_heads: 1, num_key_value_heads: 1, kv_lora_rank: 4, qk_nope_head_dim: 4, qk_rope_head_dim: 8,
      v_head_dim: 4, q_lora_rank: null, max_position_embeddings: 4096, rope_theta: 10000,
      rope_scaling: { type: 'yarn', factor: 8, original_max_position_embeddings: 512, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 0.5 },
    };
    const config = parseConfig(raw, 'test config');
    const { error, at } = worstRepositionError(new Rope(config), 8, 4096);
    assert.ok(error <= 1e-5, `reposition ${at[0]} -> ${at[1]} misses a direct rotation by ${error}`);
  });
});
