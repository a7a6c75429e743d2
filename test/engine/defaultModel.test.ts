// The embedded default model (models/latent-coder-tiny): the engine computes what the training framework
// computed (its reference logits, within 1e-4), the tokenizer round-trips code it never saw byte for byte, and
// the model folder is what the rest of the project expects (FIM tokens, chat template, YaRN to 4K, size).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Engine } from '../../engine/engine';
import { defaultModelDir } from '../../engine/defaultModel';
import { argmax } from '../../engine/generate/sampler';
import { heldoutFiles } from '../eval/defaultModelEval';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const DIR = defaultModelDir();

interface ReferenceCase {
  prompt: string;
  input_ids: number[];
  logits_positions: number[];
  logits: number[][];
  argmax: number[];
}

describe('default model (models/latent-coder-tiny)', () => {
  let engine: Engine;
  before(async () => {
    engine = await Engine.load(DIR);
  });
  after(() => engine?.dispose());

  it('is the model the CLI uses without --model', async () => {
    assert.equal(DIR, path.join(ROOT, 'models', 'latent-coder-tiny'));
    const out = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'latent.js'), 'generate', '--prompt', 'import os\nimport ', '--max-tokens', '4'], { encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const result = JSON.parse(out.stdout) as { tokens: number[]; text: string };
    assert.ok(result.tokens.length > 0 && result.text.length > 0, out.stdout);
  });

  it("reproduces the training framework's reference logits within 1e-4", async () => {
    const reference = JSON.parse(fs.readFileSync(path.join(DIR, 'reference.json'), 'utf8')) as { cases: ReferenceCase[] };
    assert.ok(reference.cases.length >= 3);
    const V = engine.config.vocabSize;
    for (const c of reference.cases) {
      assert.deepEqual(engine.tokenizer!.encode(c.prompt), c.input_ids, `token ids of ${JSON.stringify(c.prompt)}`);
      const [logits] = await engine.model.forward([{ cache: engine.newCache(), tokens: c.input_ids, logits: 'all' }]);
      c.logits_positions.forEach((p, r) => {
        let worst = 0;
        for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(logits[p * V + v] - c.logits[r][v]));
        assert.ok(worst <= 1e-4, `${JSON.stringify(c.prompt)} position ${p}: max |diff| ${worst}`);
      });
      for (let p = 0; p < c.input_ids.length; p++) {
        assert.equal(argmax(logits.subarray(p * V, (p + 1) * V)), c.argmax[p], `argmax at position ${p} of ${JSON.stringify(c.prompt)}`);
      }
    }
  });

  it('round-trips every held-out file byte for byte', async () => {
    const files = heldoutFiles(ROOT);
    assert.ok(files.length >= 20, `only ${files.length} held-out files found`);
    const tok = engine.tokenizer!;
    for (const f of files) assert.equal(tok.decode(tok.encode(f.text), { skipSpecial: false }), f.text, f.path);
  });

  it('has DeepSeek-style special tokens, a chat template and a 4K YaRN context, within 48 MB', async () => {
    const tok = engine.tokenizer!;
    assert.ok(tok.special.fim && tok.special.bos !== null && tok.special.eos !== null);
    assert.ok(tok.chatTemplate?.includes('<｜User｜>') && tok.chatTemplate.includes('<｜Assistant｜>'));
    const c = engine.config;
    assert.ok(c.ropeScaling && c.maxPositionEmbeddings >= 4096, JSON.stringify(c.ropeScaling));
    assert.ok(c.nRoutedExperts !== null && c.firstKDenseReplace === 1 && c.nSharedExperts >= 1);
    assert.ok(fs.statSync(path.join(DIR, 'model.safetensors')).size <= 48e6);
  });
});
