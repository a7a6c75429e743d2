// Chunked prefill: a long prompt is fed a chunk per step, so a sequence decoding beside it gets a token every step,
// and both produce what they produce alone.
import * as assert from 'node:assert/strict';
import { Engine } from '../../engine/engine';
import { fixtureDir, loadExpected } from './fixtureModel';

describe('engine: chunked prefill', () => {
  it('a 600-token prompt takes 10 steps of 64; the decoding neighbour advances every step; outputs are unchanged', async () => {
    const prompt = loadExpected('long').cases[0].input_ids.slice(0, 600);
    const short = prompt.slice(300, 340);
    const request = (p: number[], maxTokens: number) => ({ prompt: p, maxTokens, sampling: { temperature: 0, topP: 1, topK: 0 } });
    const alone = await Engine.load(fixtureDir('long'), { backend: 'cpu-reference', reusePolicy: { kind: 'exact' }, prefillChunkTokens: 10_000 });
    const expectLong = (await alone.generate(request(prompt, 3))).tokens;
    const expectShort = (await alone.generate(request(short, 12))).tokens;
    alone.dispose();

    const engine = await Engine.load(fixtureDir('long'), { backend: 'cpu-reference', reusePolicy: { kind: 'exact' }, prefillChunkTokens: 64 });
    const decoding = await engine.startSequence(request(short, 12));
    await engine.step([decoding]); // its prompt; it decodes from now on
    const long = await engine.startSequence(request(prompt, 3));
    let steps = 0;
    while (long.generated.length === 0) {
      const before = decoding.generated.length;
      await engine.step([decoding, long]);
      steps++;
      if (!decoding.done) assert.equal(decoding.generated.length, before + 1, `the decoding sequence waited at step ${steps}`);
    }
    assert.equal(steps, Math.ceil(600 / 64));
    while (!long.done || !decoding.done) await engine.step([decoding, long]);
    assert.deepEqual(long.generated, expectLong);
    assert.deepEqual(decoding.generated, expectShort);
    engine.dispose();
  });
});
