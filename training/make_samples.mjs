// Training samples as token ids, encoded by the same tokenizer library the engine uses (@huggingface/tokenizers),
// so the model is trained on exactly the ids it will be served.
//
// Each source file is cut at line ends into chunks; half the chunks become fill-in-the-middle samples in PSM
// layout, as DeepSeek-Coder-V2 was trained (rate 0.5):
//   <bos> <fim_begin> prefix <fim_hole> suffix <fim_end> middle <eos>
// the others plain <bos> text <eos>. Prefix, suffix and middle are encoded apart, as the engine encodes a FIM
// request. Samples are shuffled and concatenated into one uint16 stream per stage:
//   stage1.bin: chunks of ~1,600 characters (the short-context pre-training), plus the chat turns;
//   stage2.bin: chunks of ~6,500 characters (the YaRN long-context extension);
//   stage3.bin (--stage 3): chunks of ~3,000 characters, FIM at rate 0.5 with most holes where an editor's cursor
//   is (after a line's indentation, or at a word start) and running to the end of the line or a few lines more.
//   (At FIM rate 0.8 the fine-tune taught plain continuations to end lines with <fim_end>.)
//
//   node training/make_samples.mjs --tokenizer models/DIR --data training/.data [--seed 1234]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const dataDir = args.data ?? 'training/.data';
const tokDir = args.tokenizer;
let seed = Number(args.seed ?? 1234) >>> 0;
function random() { // mulberry32: small, seeded, reproducible
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (n) => Math.floor(random() * n);

const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(tokDir, 'tokenizer.json'), 'utf8')),
  JSON.parse(fs.readFileSync(path.join(tokDir, 'tokenizer_config.json'), 'utf8')));
const id = (t) => { const i = tok.token_to_id(t); if (i == null) throw new Error(`no token ${t}`); return i; };
const BOS = id('<｜begin▁of▁sentence｜>'), EOS = id('<｜end▁of▁sentence｜>');
const FIM_BEGIN = id('<｜fim▁begin｜>'), FIM_HOLE = id('<｜fim▁hole｜>'), FIM_END = id('<｜fim▁end｜>');
const encode = (text) => (text === '' ? [] : tok.encode(text, { add_special_tokens: false }).ids);

function chunks(text, maxChars) {
  const lines = text.split(/(?<=\n)/);
  const out = [];
  let current = '';
  for (const line of lines) {
    if (current.length + line.length > maxChars && current.trim() !== '') { out.push(current); current = ''; }
    current += line.length > maxChars ? line.slice(0, maxChars) : line;
  }
  if (current.trim() !== '') out.push(current);
  return out;
}

/** Where the hole goes: half the time from a cursor to the end of its line (maybe a few lines more), as an
 * inline completion sees it; otherwise between two random characters, as DeepSeek-Coder's FIM does. */
function hole(text) {
  if (random() < 0.5) {
    const start = randInt(text.length);
    let end = text.indexOf('\n', start);
    end = end < 0 ? text.length : end + 1;
    if (random() < 0.3) for (let extra = 1 + randInt(8); extra > 0 && end < text.length; extra--) {
      const next = text.indexOf('\n', end);
      end = next < 0 ? text.length : next + 1;
    }
    return [start, end];
  }
  const a = randInt(text.length + 1), b = randInt(text.length + 1);
  return [Math.min(a, b), Math.max(a, b)];
}

/** Stage 3's holes start where an editor's cursor usually is: after a line's indentation, or at a word start. */
function editorHole(text) {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i >= 0 && i + 1 < text.length; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  let start;
  if (random() < 0.6) {
    const line = lineStarts[randInt(lineStarts.length)];
    start = line + (/^[ \t]*/.exec(text.slice(line))?.[0].length ?? 0);
  } else {
    const words = [...text.matchAll(/(?<=[^\w$]|^)[\w$]/g)].map((m) => m.index);
    start = words.length ? words[randInt(words.length)] : randInt(text.length);
  }
  let end = text.indexOf('\n', start);
  end = end < 0 ? text.length : end;
  if (random() < 0.25) for (let extra = 1 + randInt(6); extra > 0 && end < text.length; extra--) {
    const next = text.indexOf('\n', end + 1);
    end = next < 0 ? text.length : next;
  }
  return [start, end];
}

function sample(text, stage = 1) {
  if (random() < 0.5) return [BOS, ...encode(text), EOS];
  const [start, end] = stage === 3 && random() < 0.8 ? editorHole(text) : hole(text);
  return [BOS, FIM_BEGIN, ...encode(text.slice(0, start)), FIM_HOLE, ...encode(text.slice(end)), FIM_END,
    ...encode(text.slice(start, end)), EOS];
}

function shuffle(items) {
  for (let i = items.length - 1; i > 0; i--) { const j = randInt(i + 1); [items[i], items[j]] = [items[j], items[i]]; }
  return items;
}

function write(file, samples) {
  const total = samples.reduce((n, s) => n + s.length, 0);
  const ids = new Uint16Array(total);
  let at = 0;
  for (const s of samples) { ids.set(s, at); at += s.length; }
  fs.writeFileSync(file, ids);
  console.log(`${file}: ${samples.length} samples, ${total} tokens`);
}

const readJsonl = (file) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
if (args.stage === '3') {
  // Stage 3: a short fine-tune on FIM holes placed as inline completion places them, at 1,024 tokens.
  const docs3 = shuffle(readJsonl(path.join(dataDir, 'corpus-train.jsonl')));
  const stage3 = [];
  for (const d of docs3.slice(0, Math.ceil(docs3.length / 3))) for (const c of chunks(d.text, 3000)) stage3.push(sample(c, 3));
  write(path.join(dataDir, 'stage3.bin'), shuffle(stage3));
  process.exit(0);
}
const docs = shuffle(readJsonl(path.join(dataDir, 'corpus-train.jsonl')));
const chat = readJsonl(path.join(dataDir, 'chat-train.jsonl'));
const stage1 = [];
for (const d of docs) for (const c of chunks(d.text, 1600)) stage1.push(sample(c));
for (const c of chat) stage1.push(encode(c.text));
write(path.join(dataDir, 'stage1.bin'), shuffle(stage1));
const stage2 = [];
for (const d of docs.slice(0, Math.ceil(docs.length / 4))) for (const c of chunks(d.text, 6500)) stage2.push(sample(c));
write(path.join(dataDir, 'stage2.bin'), shuffle(stage2));
