// `npm run eval`: the default model on held-out packages it never saw in training (training/corpus.py HELDOUT),
// each figure beside a trivial baseline measured on the same cases:
//   heldout_loss            mean next-token cross-entropy (nats) over the first 512 tokens of each file,
//                           beside the unigram baseline (token frequencies of the same files), and the next
//                           token's top-1 accuracy beside always answering the most frequent token;
//   fim_line_exact_match    the code of a line inside an indented block removed, the cursor after its indentation
//                           (where the editor puts it after Enter), the model fills the hole (PSM prompt: up to
//                           1,500 characters before, 500 after), exact match ignoring surrounding whitespace;
//                           baseline: repeat the previous line;
//   next_line_exact_match   the same line written from the prefix alone (no suffix); same baseline;
//   next_first_word_match   that answer's first word, beside the same baseline as fim_first_word_match;
//   fim_first_word_match    the same FIM answers' first word (identifier, or else first character) equals the
//                           line's: the ghost text starts right; baseline: the previous line's first word;
//   fim_empty_rate          FIM completions that are empty or whitespace (the editor shows no ghost text), where
//                           every case's line has code;
//   word_exact_match        the cursor inside an identifier (at least one character typed, two or more left), the
//                           model fills the hole to the line's end and its answer up to the first non-word
//                           character must be the identifier's rest; baseline: the editor's word-based
//                           suggestion, the most frequent identifier before the cursor that extends what was typed;
//                           word_exact_match_prefix: the same cases from the prefix alone;
//   infill_prompt           the model's layout for editors (tokenizer_config.json): 'prefix' means `latent serve`'s
//                           language server sends the prefix alone, so the next_* and *_prefix figures are the
//                           ghost text's, where 'fim' makes the fim_* ones so;
//   Completions are token-healed, as `latent serve` answers a text prompt (engine/generate/tokenHealing.ts: the
//   prefix's last tokens are re-chosen); the *_unhealed exact-match, first-word and empty figures are the same FIM
//   cases without it (the raw model's answer to the prompt as tokenized);
//   latency                 median milliseconds of one FIM completion (prompt + greedy decode to the newline), and of
//                           one from the prefix alone (next_latency_ms_p50).
// Usage: npm run eval [-- --model DIR] [--cases N] [--seed S]. Last line JSON.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../../engine/engine';
import { defaultModelDir } from '../../engine/defaultModel';
import { mulberry32 } from '../../engine/generate/seededRandom';
import { median } from '../bench/benchModel';

const HELDOUT_NPM = ['commander', 'js-yaml', 'markdown-it', 'semver'];
const HELDOUT_PYTHON = ['/usr/lib/python3/dist-packages/click'];
const CODE = /\.(py|js|mjs|cjs|ts|mts|cts)$/;

export interface HeldoutFile {
  path: string;
  text: string;
}

/** The same filter as training/corpus.py: hand-written code only (no minified or generated files). */
function looksHandwritten(text: string): boolean {
  const lines = text.split('\n');
  if (lines.length < 5) return false;
  if (Math.max(...lines.map((l) => l.length)) > 400) return false;
  if (lines.reduce((n, l) => n + l.length, 0) / lines.length > 90) return false;
  const head = text.slice(0, 2000);
  return !head.includes('DO NOT EDIT') && !head.toLowerCase().includes('auto-generated');
}

function walk(dir: string, out: string[]): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.') || e.name === 'node_modules' || e.name === '__pycache__') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (CODE.test(e.name) && !e.name.endsWith('.min.js')) out.push(p);
  }
}

/** The held-out packages present on this machine (npm ones after `npm ci`; click where python3-click is installed). */
export function heldoutFiles(root: string): HeldoutFile[] {
  const dirs = [...HELDOUT_NPM.map((p) => path.join(root, 'node_modules', p)), ...HELDOUT_PYTHON];
  const paths: string[] = [];
  for (const d of dirs) walk(d, paths);
  const seen = new Set<string>();
  const files: HeldoutFile[] = [];
  for (const p of paths) {
    if (fs.statSync(p).size > 200_000) continue;
    const text = fs.readFileSync(p, 'utf8');
    if (!looksHandwritten(text) || seen.has(text)) continue;
    seen.add(text);
    files.push({ path: p, text });
  }
  return files;
}

interface LineCase {
  file: HeldoutFile;
  /** Offsets of the line (without its newline) in the file. */
  start: number;
  end: number;
  previous: string;
}

/** Lines inside indented blocks, 8 to 100 characters of code, with a non-blank line before them. */
function candidateLines(file: HeldoutFile): LineCase[] {
  const out: LineCase[] = [];
  let offset = 0;
  let previous = '';
  for (const line of file.text.split('\n')) {
    const code = line.trim();
    if (/^\s+\S/.test(line) && code.length >= 8 && code.length <= 100 && previous.trim() !== '' && offset > 200) {
      out.push({ file, start: offset, end: offset + line.length, previous });
    }
    previous = line;
    offset += line.length + 1;
  }
  return out;
}

/** A line's first word: its leading identifier, or else its first non-blank character ('' for a blank line). */
function firstWord(line: string): string {
  const code = line.trimStart();
  return /^[\w$]+/.exec(code)?.[0] ?? code.slice(0, 1);
}

interface WordCase {
  file: HeldoutFile;
  cursor: number;
  typed: string;
  rest: string;
}

/** Every identifier of 4+ characters past the file's first 200, cut at a deterministic point inside it. */
function wordCases(file: HeldoutFile): WordCase[] {
  const out: WordCase[] = [];
  for (const m of file.text.matchAll(/(?<![\w$])[A-Za-z_$][\w$]{3,}/g)) {
    if (m.index! < 200) continue;
    const k = 1 + (m.index! % (m[0].length - 2));
    out.push({ file, cursor: m.index! + k, typed: m[0].slice(0, k), rest: m[0].slice(k) });
  }
  return out;
}

/** An editor's word-based suggestion: the identifier before `typed` most often seen, longer than it, that begins with it. */
function wordSuggestion(before: string, typed: string): string | null {
  const counts = new Map<string, number>();
  for (const m of before.matchAll(/[A-Za-z_$][\w$]*/g)) {
    if (m[0].length > typed.length && m[0].startsWith(typed)) counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
  }
  let best: string | null = null, most = 0;
  for (const [word, count] of counts) if (count > most) { best = word; most = count; }
  return best;
}

function pick<T>(items: T[], n: number, rng: () => number): T[] {
  const copy = items.slice();
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, n);
}

async function completeLine(engine: Engine, prompt: number[], tokenHealing = true): Promise<string> {
  const result = await engine.generate({ prompt, maxTokens: 48, sampling: { temperature: 0, topP: 1, topK: 0 }, stop: ['\n'], tokenHealing });
  return result.text.split('\n')[0];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' }, cases: { type: 'string' }, seed: { type: 'string' } } });
  const dir = values.model ?? defaultModelDir();
  const nCases = Number(values.cases ?? 100);
  const rng = mulberry32(Number(values.seed ?? 7));
  const root = path.resolve(__dirname, '..', '..', '..');
  const files = heldoutFiles(root);
  if (files.length === 0) throw new Error('no held-out files found (run npm ci first)');
  const engine = await Engine.load(dir);
  const tok = engine.tokenizer;
  if (!tok || !tok.special.fim || tok.special.bos === null) throw new Error(`${dir}: the model needs a tokenizer with bos and FIM tokens`);
  const { bos } = tok.special;
  const fim = tok.special.fim;
  const V = engine.config.vocabSize;
  try {
    // Loss, and the unigram baseline over the same tokens.
    let nll = 0, count = 0;
    const windows: number[][] = [];
    for (const f of pick(files, Math.min(40, files.length), rng)) windows.push([bos as number, ...tok.encode(f.text).slice(0, 511)]);
    const freq = new Float64Array(V);
    for (const w of windows) for (const t of w.slice(1)) freq[t]++;
    const total = freq.reduce((a, b) => a + b, 0);
    let unigram = 0, top1 = 0, unigramTop1 = 0;
    let mostFrequent = 0;
    for (let v = 1; v < V; v++) if (freq[v] > freq[mostFrequent]) mostFrequent = v;
    for (const w of windows) {
      const [logits] = await engine.model.forward([{ cache: engine.newCache(), tokens: w, logits: 'all' }]);
      for (let i = 0; i + 1 < w.length; i++) {
        const row = logits.subarray(i * V, (i + 1) * V);
        let max = -Infinity, best = 0;
        for (let v = 0; v < V; v++) if (row[v] > max) { max = row[v]; best = v; }
        if (best === w[i + 1]) top1++;
        if (mostFrequent === w[i + 1]) unigramTop1++;
        let sum = 0;
        for (const x of row) sum += Math.exp(x - max);
        nll += Math.log(sum) + max - row[w[i + 1]];
        unigram -= Math.log((freq[w[i + 1]] + 1) / (total + V));
        count++;
      }
    }

    const lines = pick(files.flatMap(candidateLines), nCases, rng);
    let fimHits = 0, nextHits = 0, baselineHits = 0, fimEmpty = 0, unhealedHits = 0, unhealedEmpty = 0;
    let firstWordHits = 0, unhealedFirstWordHits = 0, baselineFirstWordHits = 0;
    const latencies: number[] = [], nextLatencies: number[] = [];
    let nextFirstWordHits = 0;
    const samples: { file: string; expected: string; fim: string; next: string }[] = [];
    for (const c of lines) {
      const text = c.file.text;
      const expected = text.slice(c.start, c.end).trim();
      // The cursor after the line's indentation, where the editor leaves it after Enter.
      const cursor = c.start + (text.slice(c.start, c.end).length - text.slice(c.start, c.end).trimStart().length);
      const prefix = text.slice(Math.max(0, cursor - 1500), cursor);
      const suffix = text.slice(c.end, c.end + 500);
      const t0 = performance.now();
      const fimPrompt = [bos as number, fim.begin, ...tok.encode(prefix), fim.hole, ...tok.encode(suffix), fim.end];
      const fimText = await completeLine(engine, fimPrompt);
      latencies.push(performance.now() - t0);
      const unhealed = await completeLine(engine, fimPrompt, false);
      if (unhealed.trim() === expected) unhealedHits++;
      if (unhealed.trim() === '') unhealedEmpty++;
      if (firstWord(fimText) === firstWord(expected)) firstWordHits++;
      if (firstWord(unhealed) === firstWord(expected)) unhealedFirstWordHits++;
      if (firstWord(c.previous) === firstWord(expected)) baselineFirstWordHits++;
      const t1 = performance.now();
      const nextText = await completeLine(engine, [bos as number, ...tok.encode(prefix)]);
      nextLatencies.push(performance.now() - t1);
      if (firstWord(nextText) === firstWord(expected)) nextFirstWordHits++;
      if (fimText.trim() === expected) fimHits++;
      if (fimText.trim() === '') fimEmpty++;
      if (nextText.trim() === expected) nextHits++;
      if (c.previous.trim() === expected) baselineHits++;
      if (samples.length < 8) samples.push({ file: path.relative(root, c.file.path), expected, fim: fimText.trim(), next: nextText.trim() });
    }
    for (const s of samples) console.log(JSON.stringify(s));

    const words = pick(files.flatMap(wordCases), nCases, rng);
    let wordHits = 0, wordPrefixHits = 0, wordBaselineHits = 0;
    for (const w of words) {
      const text = w.file.text;
      const lineEnd = text.indexOf('\n', w.cursor);
      const end = lineEnd < 0 ? text.length : lineEnd;
      const before = tok.encode(text.slice(Math.max(0, w.cursor - 1500), w.cursor));
      const restOfWord = async (prompt: number[]) => /^[\w$]*/.exec((await engine.generate({
        prompt, maxTokens: 12, sampling: { temperature: 0, topP: 1, topK: 0 }, stop: ['\n'], tokenHealing: true,
      })).text)![0];
      if (await restOfWord([bos as number, fim.begin, ...before, fim.hole, ...tok.encode(text.slice(end, end + 500)), fim.end]) === w.rest) wordHits++;
      if (await restOfWord([bos as number, ...before]) === w.rest) wordPrefixHits++;
      if (wordSuggestion(text.slice(0, w.cursor - w.typed.length), w.typed) === w.typed + w.rest) wordBaselineHits++;
    }
    const n = lines.length;
    const result = {
      model: path.relative(root, dir) || dir,
      infill_prompt: tok.infillPrompt,
      heldout_files: files.length,
      heldout_tokens: count,
      heldout_loss: +(nll / count).toFixed(4),
      baseline_unigram_loss: +(unigram / count).toFixed(4),
      heldout_top1_accuracy: +(top1 / count).toFixed(4),
      baseline_top1_accuracy: +(unigramTop1 / count).toFixed(4),
      cases: n,
      fim_line_exact_match: +(fimHits / n).toFixed(4),
      next_line_exact_match: +(nextHits / n).toFixed(4),
      baseline_fim_line_exact_match: +(baselineHits / n).toFixed(4),
      baseline_next_line_exact_match: +(baselineHits / n).toFixed(4),
      fim_first_word_match: +(firstWordHits / n).toFixed(4),
      next_first_word_match: +(nextFirstWordHits / n).toFixed(4),
      baseline_fim_first_word_match: +(baselineFirstWordHits / n).toFixed(4),
      fim_empty_rate: +(fimEmpty / n).toFixed(4),
      fim_line_exact_match_unhealed: +(unhealedHits / n).toFixed(4),
      fim_first_word_match_unhealed: +(unhealedFirstWordHits / n).toFixed(4),
      fim_empty_rate_unhealed: +(unhealedEmpty / n).toFixed(4),
      word_cases: words.length,
      word_exact_match: +(wordHits / Math.max(1, words.length)).toFixed(4),
      word_exact_match_prefix: +(wordPrefixHits / Math.max(1, words.length)).toFixed(4),
      baseline_word_exact_match: +(wordBaselineHits / Math.max(1, words.length)).toFixed(4),
      fim_latency_ms_p50: +median(latencies).toFixed(1),
      next_latency_ms_p50: +median(nextLatencies).toFixed(1),
      // Latency depends on the CPU (AVX-512 or AVX2 only), so the figure carries its name.
      cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    };
    console.log(`held-out loss ${result.heldout_loss} nats/token (unigram baseline ${result.baseline_unigram_loss}), ` +
      `next token top-1 ${(100 * result.heldout_top1_accuracy).toFixed(1)}% (most frequent token ${(100 * result.baseline_top1_accuracy).toFixed(1)}%); ` +
      `FIM line exact ${(100 * result.fim_line_exact_match).toFixed(1)}%, next line ${(100 * result.next_line_exact_match).toFixed(1)}% ` +
      `(repeat-previous-line baseline ${(100 * result.baseline_fim_line_exact_match).toFixed(1)}%), ` +
      `FIM first word ${(100 * result.fim_first_word_match).toFixed(1)}% (previous line's ${(100 * result.baseline_fim_first_word_match).toFixed(1)}%), FIM empty ${(100 * result.fim_empty_rate).toFixed(1)}%; ` +
      `without token healing FIM line exact ${(100 * result.fim_line_exact_match_unhealed).toFixed(1)}%, first word ${(100 * result.fim_first_word_match_unhealed).toFixed(1)}%, empty ${(100 * result.fim_empty_rate_unhealed).toFixed(1)}%; ` +
      `the rest of a word ${(100 * result.word_exact_match).toFixed(1)}% (word-based suggestion ${(100 * result.baseline_word_exact_match).toFixed(1)}%); one completion ${result.fim_latency_ms_p50} ms on ${result.cpu}`);
    console.log(`from the prefix alone${result.infill_prompt === 'prefix' ? " (the model's infill_prompt: the ghost text's figures)" : ''}: ` +
      `first word ${(100 * result.next_first_word_match).toFixed(1)}% (previous line's ${(100 * result.baseline_fim_first_word_match).toFixed(1)}%), ` +
      `line exact ${(100 * result.next_line_exact_match).toFixed(1)}% (${(100 * result.baseline_next_line_exact_match).toFixed(1)}%), ` +
      `the rest of a word ${(100 * result.word_exact_match_prefix).toFixed(1)}% (word-based suggestion ${(100 * result.baseline_word_exact_match).toFixed(1)}%); ` +
      `one completion ${result.next_latency_ms_p50} ms`);
    console.log(JSON.stringify(result));
  } finally {
    engine.dispose();
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(`eval: ${(e as Error).message}`);
    process.exit(2);
  });
}
