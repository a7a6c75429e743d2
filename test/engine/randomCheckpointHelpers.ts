// Shared by the random-checkpoint and malformed-input tests: small configs, scratch folders, loading a folder
// into a model, and surgery on a safetensors header.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CpuBackend } from '../../engine/backend/cpu/cpuBackend';
import { ContiguousLatentCache } from '../../engine/cache/latentCache';
import { DeepseekV2Model } from '../../engine/model/deepseekV2';
import { loadWeights, readConfig } from '../../engine/weights/modelFolder';
import { fixtureDir } from './fixtureModel';

export const LATENT = path.resolve(__dirname, '..', '..', '..', 'bin', 'latent.js');

/** A fixture's config.json as a plain object (a fresh copy to modify). */
export function fixtureConfig(name: 'lite' | 'full' | 'long'): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(fixtureDir(name), 'config.json'), 'utf8'));
}

/** Scratch folders under the OS temp dir, all removed by `removeAll`. */
export class ScratchDirs {
  private readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-weights-test-'));
  private count = 0;

  /** A path for a folder that does not exist yet. */
  fresh(label: string): string {
    return path.join(this.root, `${this.count++}-${label}`);
  }

  removeAll(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

export function loadModel(dir: string): DeepseekV2Model {
  const config = readConfig(dir);
  return new DeepseekV2Model(config, loadWeights(dir, config), new CpuBackend());
}

/** Logits of every position of one plain forward. */
export async function allLogits(model: DeepseekV2Model, tokens: number[]): Promise<Float32Array> {
  const c = model.config;
  const [logits] = await model.forward([{ cache: new ContiguousLatentCache(c.numLayers, c.kvLoraRank, c.qkRopeHeadDim), tokens, logits: 'all' }]);
  return logits;
}

/** Rewrites a safetensors file with its header passed through `edit` (the data bytes stay as they were). */
export function editHeader(file: string, edit: (header: Record<string, any>) => void): void {
  const bytes = fs.readFileSync(file);
  const len = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + len).toString('utf8'));
  edit(header);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([lenBuf, json, bytes.subarray(8 + len)]));
}

export function copyDir(from: string, to: string): void {
  fs.cpSync(from, to, { recursive: true });
}
