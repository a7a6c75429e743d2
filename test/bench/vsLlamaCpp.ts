// npm run bench:vs-llamacpp [-- --quick] [-- --layers N] [-- --types f16,q8_0,q4_k] [-- --threads T] [-- --work DIR]
//   [-- --gguf FILE] (any deepseek2 GGUF with a tokenizer instead of the generated ones)
//
// Our engine and llama.cpp (node-llama-cpp 3.22.1, its prebuilt CPU binary) side by side in one process, on the very
// same GGUF file: DeepSeek-V2-Lite's shapes with N layers (default 4) and random weights (`latent init-random`, then
// `latent export-gguf`; speed does not depend on the values), the DeepSeek vocabulary, the text a real source file.
// Per type:
// 1. greedy agreement: both engines' greedy tokens after the same prompt (so the comparison is of one function);
// 2. prompt processing of 512 and 2,048 tokens (batches of 512, as llama.cpp's), then decode tok/s right after it;
//    the two engines interleaved run by run, medians;
// 3. the editing case, time to the first token: (a) one token changed 100 from the end of a 2,000-token prompt,
//    (b) one character typed before a 2,000-token suffix (FIM layout). Ours: the engine's edit-aware latent cache
//    (its default reuse policy); llama.cpp: node-llama-cpp's own reuse (`adaptStateToTokens`: the common prefix).
//    At least 5 runs each, interleaved, with our background refresh between them (untimed), as in a typing pause.
// Ratios are ours over llama.cpp's speed (for the edit case: llama.cpp's time to first token over ours). The last
// line of stdout is the JSON report.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../../engine/engine';
import { ModelTokenizer } from '../../engine/tokenizer/modelTokenizer';
import { argmax } from '../../engine/generate/sampler';
import { configToJson } from '../../engine/weights/configJson';
import { openLlamaCpp, LlamaCppPeer } from '../peer/llamaCppPeer';
import { TOKENIZERS_DIR } from '../sharedDir';
import { deepseekTokenizer, greedyTokens, median, prefillInBatches, sourceText, SOURCE_FILE, v2LiteConfig } from './benchModel';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const numLayers = Number(flag('layers') ?? 4);
const types = (flag('types') ?? 'f16').split(',');
const threads = Number(flag('threads') ?? os.availableParallelism());
const workDir = flag('work') ?? path.join(os.tmpdir(), 'latent-vs-llamacpp');
const givenGguf = flag('gguf');
const ROUNDS = Number(flag('rounds') ?? (quick ? 3 : 5));
// The edits are short beside this machine's run-to-run noise (ours 50-85 ms on F16): at least 5 of them.
const EDIT_ROUNDS = Math.max(ROUNDS, 5);
const GEN = quick ? 32 : 64;
const GREEDY = 16;
const EDIT_BACK = 100;
const EDIT_LEN = 2000;
const LATENT = path.resolve(__dirname, '..', '..', '..', 'bin', 'latent.js');

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function latent(argv: string[]): void {
  const r = spawnSync(process.execPath, [LATENT, ...argv], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`latent ${argv.join(' ')} failed (exit ${r.status})`);
}

/** The GGUF file of a type, made once and kept in the work folder (from a random model folder, removed at the end). */
const randomFolder = path.join(workDir, `v2lite-L${numLayers}`);
function ggufFile(type: string): string {
  const file = path.join(workDir, `v2lite-L${numLayers}-${type}.gguf`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(workDir, { recursive: true });
  if (!fs.existsSync(path.join(randomFolder, 'config.json'))) {
    const config = path.join(workDir, 'config.json');
    fs.writeFileSync(config, JSON.stringify(configToJson(v2LiteConfig(numLayers))));
    log(`  latent init-random (${numLayers} layers, f16) -> ${randomFolder}`);
    latent(['init-random', '--config', config, '--out', randomFolder, '--dtype', 'f16', '--seed', '7', '--tokenizer', path.join(TOKENIZERS_DIR, 'deepseek-llm')]);
  }
  log(`  latent export-gguf --type ${type} -> ${file}`);
  const t0 = performance.now();
  latent(['export-gguf', '--model', randomFolder, '--out', file, '--type', type]);
  log(`  written in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  return file;
}

async function theirDecode(peer: LlamaCppPeer, first: number, count: number): Promise<number> {
  let k = 0;
  for await (const _t of peer.sequence.evaluate([first] as never, { temperature: 0, yieldEogToken: true })) {
    if (++k >= count) break;
  }
  return k;
}

const now = () => performance.now();

interface TypeReport {
  greedy_agree: boolean;
  greedy_tokens_matched: string;
  ours: Record<string, number>;
  llamacpp: Record<string, number>;
  decode_ratio: number;
  prefill_ratio: number;
  edit_ratio: number;
  edit_ratio_token_change: number;
  edit_ratio_typing: number;
  runs: Record<string, number[]>;
}

async function benchType(type: string, file: string, all: number[], bos: number): Promise<TypeReport> {
  log(`\n[${type}] ${file} (${(fs.statSync(file).size / 2 ** 30).toFixed(2)} GiB)`);
  let t0 = now();
  const engine = await Engine.load(file, { backend: 'cpu' });
  log(`  ours loaded in ${((now() - t0) / 1000).toFixed(1)} s (${engine.model.backend.name}: ${engine.model.backend.info().device})`);
  t0 = now();
  const peer = await openLlamaCpp(file, { threads, contextSize: 2048 + GEN + 256 });
  log(`  llama.cpp loaded in ${((now() - t0) / 1000).toFixed(1)} s; context ${peer.context.contextSize}, batch ${peer.context.batchSize}, threads ${peer.context.currentThreads}, flash attention ${peer.context.flashAttention}`);
  const runs: Record<string, number[]> = {};
  const push = (k: string, v: number) => (runs[k] ??= []).push(v);
  try {
    // 1. Greedy agreement.
    const prompt = [bos, ...all.slice(0, 63)];
    const theirs = await peer.greedy(prompt, GREEDY);
    const pre = await prefillInBatches(engine, prompt);
    const ours = [argmax(pre.logits), ...await greedyTokens(engine, pre.cache, argmax(pre.logits), GREEDY - 1)];
    let matched = 0;
    while (matched < GREEDY && ours[matched] === theirs[matched]) matched++;
    log(`  greedy: ours ${ours.join(',')}\n          llama.cpp ${theirs.join(',')}  (${matched}/${GREEDY} agree)`);

    // 2. Prompt processing and decode, interleaved; a warm-up of each first.
    const promptOf = (n: number) => [bos, ...all.slice(0, n - 1)];
    const nextOf = (n: number) => all[n - 1];
    {
      const w = await prefillInBatches(engine, promptOf(512));
      await greedyTokens(engine, w.cache, nextOf(512), 4);
      await peer.sequence.clearHistory();
      await peer.sequence.evaluateWithoutGeneratingNewTokens(promptOf(512) as never);
      await theirDecode(peer, nextOf(512), 4);
    }
    for (let r = 0; r < ROUNDS; r++) {
      for (const n of [512, 2048]) {
        if (n === 2048 && quick && r > 0) continue; // --quick: pp2048 once
        let t = now();
        const p = await prefillInBatches(engine, promptOf(n));
        push(`ours_pp${n}`, n / ((now() - t) / 1000));
        t = now();
        await greedyTokens(engine, p.cache, nextOf(n), GEN);
        push(`ours_tg${GEN}@${n}`, GEN / ((now() - t) / 1000));

        await peer.sequence.clearHistory();
        t = now();
        await peer.sequence.evaluateWithoutGeneratingNewTokens(promptOf(n) as never);
        push(`llamacpp_pp${n}`, n / ((now() - t) / 1000));
        t = now();
        const k = await theirDecode(peer, nextOf(n), GEN);
        if (k !== GEN) throw new Error(`llama.cpp generated ${k} of ${GEN}`);
        push(`llamacpp_tg${GEN}@${n}`, GEN / ((now() - t) / 1000));
        log(`  round ${r} n=${n}: pp ours ${runs[`ours_pp${n}`].at(-1)!.toFixed(1)} / llama.cpp ${runs[`llamacpp_pp${n}`].at(-1)!.toFixed(1)} tok/s; ` +
          `tg${GEN} ours ${runs[`ours_tg${GEN}@${n}`].at(-1)!.toFixed(2)} / llama.cpp ${runs[`llamacpp_tg${GEN}@${n}`].at(-1)!.toFixed(2)} tok/s`);
      }
    }

    // 3. The editing case. Each run edits differently (a new token; a new typed character), so no run finds its
    // own prompt cached; the time runs from the request to the first token.
    const sampling = { temperature: 0, topP: 1, topK: 0 };
    const ourTtft = async (p: number[]) => {
      const t = now();
      await engine.generate({ prompt: p, maxTokens: 1, sampling });
      return now() - t;
    };
    const theirTtft = async (p: number[]) => {
      const t = now();
      await peer.sequence.adaptStateToTokens(p as never);
      const keep = peer.sequence.nextTokenIndex;
      for await (const _t of peer.sequence.evaluate(p.slice(keep) as never, { temperature: 0, yieldEogToken: true })) break;
      return { ms: now() - t, reused: keep };
    };
    const replacements = [...new Set(all.slice(5000))].slice(0, 2 * EDIT_ROUNDS + 2);
    // (a) one token changed EDIT_BACK from the end of EDIT_LEN.
    const base = promptOf(EDIT_LEN);
    const at = EDIT_LEN - EDIT_BACK;
    const edited = (r: number) => base.map((t, i) => (i === at ? replacements.filter((x) => x !== base[at])[r] : t));
    await ourTtft(base);
    await peer.sequence.clearHistory();
    await peer.sequence.evaluateWithoutGeneratingNewTokens(base as never);
    // (b) one character typed at a cursor before an EDIT_LEN-token suffix, FIM layout. The DeepSeek-LLM vocabulary
    // has no FIM tokens, so three ids stand in (the cost does not depend on them).
    const V = engine.config.vocabSize;
    const fim = { begin: V - 3, hole: V - 2, end: V - 1 };
    const prefix = all.slice(0, 200);
    const suffix = all.slice(200, 200 + EDIT_LEN);
    const typed = (r: number) => [bos, fim.begin, ...prefix, replacements[r], fim.hole, ...suffix, fim.end];
    const typedBase = [bos, fim.begin, ...prefix, fim.hole, ...suffix, fim.end];
    const cases: [string, number[], (r: number) => number[]][] = [['token_change', base, edited], ['typing', typedBase, typed]];
    for (const [name, before, after] of cases) {
      await ourTtft(before);
      for (let r = 0; r < EDIT_ROUNDS; r++) {
        const p = after(r);
        const ms = await ourTtft(p);
        // The pause after a keystroke, as `latent serve` spends it: the edit's derived latents recomputed exactly
        // (untimed), so that no run is the one whose copies reach the policy's distance and are recomputed.
        while (await engine.refreshIdle(64));
        // llama.cpp starts each run from `before` cached, as a user's editor would.
        await peer.sequence.adaptStateToTokens(before as never);
        if (peer.sequence.nextTokenIndex < before.length) await peer.sequence.evaluateWithoutGeneratingNewTokens(before.slice(peer.sequence.nextTokenIndex) as never);
        const theirs = await theirTtft(p);
        push(`ours_edit_${name}_ms`, ms);
        push(`llamacpp_edit_${name}_ms`, theirs.ms);
        push(`llamacpp_edit_${name}_reused`, theirs.reused);
        log(`  edit ${name} run ${r}: ours ${ms.toFixed(0)} ms, llama.cpp ${theirs.ms.toFixed(0)} ms (reused ${theirs.reused}/${p.length})`);
      }
    }
    const stats = engine.cacheStats();
    log(`  our latent cache: ${JSON.stringify(stats)}`);

    const med = (k: string) => median(runs[k]);
    const oursMed: Record<string, number> = {};
    const theirsMed: Record<string, number> = {};
    for (const k of Object.keys(runs)) {
      if (k.startsWith('ours_')) oursMed[k.slice(5)] = med(k);
      else theirsMed[k.slice(9)] = med(k);
    }
    const editToken = med('llamacpp_edit_token_change_ms') / med('ours_edit_token_change_ms');
    const editTyping = med('llamacpp_edit_typing_ms') / med('ours_edit_typing_ms');
    return {
      greedy_agree: matched === GREEDY,
      greedy_tokens_matched: `${matched}/${GREEDY}`,
      ours: oursMed,
      llamacpp: theirsMed,
      decode_ratio: med(`ours_tg${GEN}@512`) / med(`llamacpp_tg${GEN}@512`),
      prefill_ratio: med('ours_pp512') / med('llamacpp_pp512'),
      edit_ratio: Math.min(editToken, editTyping),
      edit_ratio_token_change: editToken,
      edit_ratio_typing: editTyping,
      runs,
    };
  } finally {
    engine.dispose();
    await peer.dispose();
  }
}

async function main(): Promise<void> {
  log(`vs-llama.cpp bench${quick ? ' [quick]' : ''}: ${givenGguf ?? `DeepSeek-V2-Lite shapes, ${numLayers} layers, random weights`}, ${threads} threads, types ${types.join(',')}; ` +
    `${ROUNDS} interleaved rounds, ${EDIT_ROUNDS} of each edit (timings on a shared machine: compare the ratios of one run)`);
  const tokenizer = givenGguf ? ModelTokenizer.load(givenGguf) : deepseekTokenizer();
  const all = tokenizer.encode(sourceText());
  if (all.length < 2300) throw new Error(`${SOURCE_FILE}: only ${all.length} tokens`);
  const bos = tokenizer.special.bos!;
  const report: Record<string, unknown> = {};
  let versions: LlamaCppPeer['versions'] | undefined;
  for (const type of types) {
    try {
      report[type] = await benchType(type, givenGguf ?? ggufFile(type), all, bos);
    } catch (e) {
      log(`  [${type}] failed: ${(e as Error).message}`);
      report[type] = { error: (e as Error).message.split('\n')[0] };
    }
  }
  {
    const peer = await openLlamaCpp(givenGguf ?? ggufFile(types[0]), { threads: 1, contextSize: 64 });
    versions = peer.versions;
    await peer.dispose();
  }
  fs.rmSync(randomFolder, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({
    bench: 'vs-llama.cpp',
    model: givenGguf ?? `DeepSeek-V2-Lite shapes, ${numLayers} layers, random weights (seed 7)`,
    layers: givenGguf ? undefined : numLayers,
    threads,
    quick,
    rounds: ROUNDS,
    edit_rounds: EDIT_ROUNDS,
    text: path.basename(SOURCE_FILE),
    node: process.version,
    node_llama_cpp: versions.nodeLlamaCpp,
    llama_cpp: versions.llamaCpp,
    llama_cpp_build: versions.buildType,
    cpu: os.cpus()[0]?.model,
    per_type: report,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`vs-llama.cpp bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
