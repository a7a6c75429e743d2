// Loads a shared fixture (model + the reference's expected outputs) for the engine tests.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../../engine/backend/backend';
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { loadWeights, readConfig } from '../../engine/weights/modelFolder';
import { FIXTURES_DIR } from '../sharedDir';

export interface ExpectedCase {
  name: string;
  seq_len: number;
  input_ids: number[];
  logits_positions: number[];
  logits: number[][];
  argmax: number[];
  argmax_top2_gap: number[];
  greedy: { max_new_tokens: number; new_tokens: number[]; step_top2_gap: number[]; last_step_logits: number[] };
  trace?: {
    hidden_states: number[][][];
    layers: { attn_output: number[][]; mlp_output: number[][]; router_experts?: number[][]; router_weights?: number[][] }[];
  };
}

export interface Expected {
  reference_internals: { softmax_scale: number; rope_inv_freq: number[] };
  cases: ExpectedCase[];
}

export const FIXTURE_NAMES = ['lite', 'full', 'long'] as const;

export function fixtureDir(name: string): string {
  return path.join(FIXTURES_DIR, name);
}

export function loadExpected(name: string): Expected {
  return JSON.parse(fs.readFileSync(path.join(fixtureDir(name), 'expected.json'), 'utf8'));
}

export function loadFixtureModel(name: string, backend: Backend = new CpuBackend()): DeepseekV2Model {
  const dir = fixtureDir(name);
  const config = readConfig(dir);
  return new DeepseekV2Model(config, loadWeights(dir, config), backend);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/** On `backend`: the fixture's logits within `tol` at the reference's positions, and its greedy continuation
 * through the latent cache (tokens equal, last step's logits within `tol`). */
export async function checkFixtureLogits(name: string, backend: Backend, tol = 1e-4): Promise<void> {
  const model = loadFixtureModel(name, backend);
  const V = model.config.vocabSize;
  const newCache = () => new ContiguousLatentCache(model.config.numLayers, model.config.kvLoraRank, model.config.qkRopeHeadDim);
  for (const kase of loadExpected(name).cases) {
    const [logits] = await model.forward([{ cache: newCache(), tokens: kase.input_ids, logits: 'all' }]);
    kase.logits_positions.forEach((pos, r) => {
      const diff = maxAbsDiff(logits.subarray(pos * V, (pos + 1) * V), kase.logits[r]);
      assert.ok(diff <= tol, `${kase.name} position ${pos}: max |diff| ${diff}`);
    });
    const cache = newCache();
    let [last] = await model.forward([{ cache, tokens: kase.input_ids, logits: 'last' }]);
    const out: number[] = [];
    for (let step = 0; step < kase.greedy.max_new_tokens; step++) {
      out.push(argmax(last));
      if (step === kase.greedy.max_new_tokens - 1) break;
      [last] = await model.forward([{ cache, tokens: [out[step]], logits: 'last' }], { attentionPath: 'absorbed' });
    }
    assert.deepEqual(out, kase.greedy.new_tokens, kase.name);
    const diff = maxAbsDiff(last, kase.greedy.last_step_logits);
    assert.ok(diff <= tol, `${kase.name} last step logits: max |diff| ${diff}`);
  }
}
