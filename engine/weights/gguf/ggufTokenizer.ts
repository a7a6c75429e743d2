// The tokenizer of a GGUF file (`tokenizer.ggml.*`) as the Hugging Face tokenizer.json / tokenizer_config.json
// pair that @huggingface/tokenizers builds from, and the reverse for the writer. Only byte-level BPE ("gpt2") is
// supported; the pre-tokenizer comes from llama.cpp's name for it (`tokenizer.ggml.pre`), or, for a tokenizer
// with none of those splits, from our own key `latent.tokenizer.pre_tokenizer` (its HF pre_tokenizer JSON).
import { GgufValue, GgufValueType } from './ggufFormat';
import { MetadataEntry, MetadataReader } from './deepseek2Metadata';

/** llama_token_type */
const TOKEN_NORMAL = 1;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;
const TOKEN_UNUSED = 5;

export const PRE_TOKENIZER_KEY = 'latent.tokenizer.pre_tokenizer';

/** llama.cpp's pre-tokenizer regexes (llama-vocab.cpp), applied in order as isolated splits, then byte-level. */
const NAMED_PRE_TOKENIZERS: Record<string, string[]> = {
  'deepseek-llm': [
    '[\r\n]',
    '\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+',
    '\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+',
    '\\s+$',
    '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+',
    '\\p{N}+',
  ],
  'deepseek-coder': ['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+', '\\p{N}'],
};

function namedPreTokenizer(regexes: string[]): Record<string, unknown> {
  return {
    type: 'Sequence',
    pretokenizers: [
      ...regexes.map((r) => ({ type: 'Split', pattern: { Regex: r }, behavior: 'Isolated', invert: false })),
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}

export interface HfTokenizerPair {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

/** Whether the file carries a tokenizer at all. */
export function hasGgufTokenizer(metadata: Map<string, GgufValue>): boolean {
  return metadata.has('tokenizer.ggml.model');
}

export function tokenizerFromMetadata(file: string, metadata: Map<string, GgufValue>): HfTokenizerPair {
  const m = new MetadataReader(file, metadata);
  const model = m.string('tokenizer.ggml.model');
  if (model !== 'gpt2') m.fail('tokenizer.ggml.model', `is "${model}"; only "gpt2" (byte-level BPE) is supported`);
  const tokens = m.array('tokenizer.ggml.tokens', [GgufValueType.STRING]) as string[];
  const types = m.array('tokenizer.ggml.token_type', [GgufValueType.INT32, GgufValueType.UINT32], true) as number[] | undefined;
  if (types && types.length !== tokens.length) m.fail('tokenizer.ggml.token_type', `has ${types.length} entries for ${tokens.length} tokens`);
  const merges = m.array('tokenizer.ggml.merges', [GgufValueType.STRING]) as string[];

  let preTokenizer: unknown;
  const custom = m.string(PRE_TOKENIZER_KEY, true);
  if (custom !== undefined) {
    try {
      preTokenizer = JSON.parse(custom);
    } catch (e) {
      m.fail(PRE_TOKENIZER_KEY, `is not valid JSON (${(e as Error).message})`);
    }
  } else {
    const pre = m.string('tokenizer.ggml.pre');
    const regexes = NAMED_PRE_TOKENIZERS[pre];
    if (!regexes) m.fail('tokenizer.ggml.pre', `"${pre}" is not supported (${Object.keys(NAMED_PRE_TOKENIZERS).join(', ')})`);
    preTokenizer = namedPreTokenizer(regexes);
  }

  // Null-prototype, so that tokens such as "constructor" or "__proto__" are plain keys.
  const vocab: Record<string, number> = Object.create(null);
  const added: Record<string, unknown>[] = [];
  tokens.forEach((text, id) => {
    const type = types?.[id] ?? TOKEN_NORMAL;
    if (type === TOKEN_CONTROL || type === TOKEN_USER_DEFINED) {
      added.push({ id, content: text, single_word: false, lstrip: false, rstrip: false, normalized: type === TOKEN_USER_DEFINED, special: type === TOKEN_CONTROL });
    } else if (!Object.prototype.hasOwnProperty.call(vocab, text)) {
      vocab[text] = id;
    }
  });
  const idText = (key: string): string | null => {
    if (!m.has(key)) return null;
    const id = m.uint(key);
    if (id >= tokens.length) m.fail(key, `(${id}) is outside the ${tokens.length} tokens`);
    return tokens[id];
  };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  const template = m.string('tokenizer.chat_template', true);
  const tokenizerConfig: Record<string, unknown> = {
    bos_token: idText('tokenizer.ggml.bos_token_id'),
    eos_token: idText('tokenizer.ggml.eos_token_id'),
    add_bos_token: m.bool('tokenizer.ggml.add_bos_token', true),
    add_eos_token: m.bool('tokenizer.ggml.add_eos_token', false),
    ...(template !== undefined ? { chat_template: template } : {}),
  };
  return { tokenizerJson, tokenizerConfig };
}

/**
 * The `tokenizer.*` metadata of a Hugging Face tokenizer.json / tokenizer_config.json pair, for `vocabSize` ids
 * (ids the tokenizer does not use become unused `[PADn]` tokens, as llama.cpp's converter writes them).
 */
export function metadataFromTokenizer(source: string, pair: HfTokenizerPair, vocabSize: number, bos: number | null, eos: number | null): MetadataEntry[] {
  const { tokenizerJson: tj, tokenizerConfig: tc } = pair;
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  const model = tj.model as { type?: unknown; vocab?: unknown; merges?: unknown } | undefined;
  if (model?.type !== 'BPE' || !model.vocab || typeof model.vocab !== 'object' || !Array.isArray(model.merges)) fail('only byte-level BPE tokenizers can be written to GGUF');
  const tokens: (string | undefined)[] = new Array(vocabSize).fill(undefined);
  const types: number[] = new Array(vocabSize).fill(TOKEN_UNUSED);
  const place = (text: string, id: unknown, type: number) => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= vocabSize) fail(`token ${JSON.stringify(text)} has id ${id}, outside the model's ${vocabSize}`);
    tokens[id as number] = text;
    types[id as number] = type;
  };
  for (const [text, id] of Object.entries(model!.vocab as Record<string, unknown>)) place(text, id, TOKEN_NORMAL);
  for (const t of (tj.added_tokens ?? []) as { id?: unknown; content?: unknown; special?: unknown }[]) {
    if (typeof t.content === 'string') place(t.content, t.id, t.special === true ? TOKEN_CONTROL : TOKEN_USER_DEFINED);
  }
  const merges = (model!.merges as unknown[]).map((mg) => (Array.isArray(mg) ? mg.join(' ') : String(mg)));

  const pre = tj.pre_tokenizer;
  const named = Object.entries(NAMED_PRE_TOKENIZERS).find(([, r]) => JSON.stringify(namedPreTokenizer(r)) === JSON.stringify(pre))?.[0];
  const str = (value: string): GgufValue => ({ type: GgufValueType.STRING, value });
  const u32 = (value: number): GgufValue => ({ type: GgufValueType.UINT32, value });
  const out: MetadataEntry[] = [
    ['tokenizer.ggml.model', str('gpt2')],
    // llama.cpp only knows pre-tokenizers by name; for one of ours it gets its default, and we read the exact one.
    ['tokenizer.ggml.pre', str(named ?? 'default')],
    ['tokenizer.ggml.tokens', { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: tokens.map((t, id) => t ?? `[PAD${id}]`) }],
    ['tokenizer.ggml.token_type', { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, value: types }],
    ['tokenizer.ggml.merges', { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, value: merges }],
  ];
  if (!named) out.push([PRE_TOKENIZER_KEY, str(JSON.stringify(pre))]);
  if (bos !== null) out.push(['tokenizer.ggml.bos_token_id', u32(bos)]);
  if (eos !== null) out.push(['tokenizer.ggml.eos_token_id', u32(eos)]);
  out.push(['tokenizer.ggml.add_bos_token', { type: GgufValueType.BOOL, value: tc.add_bos_token !== false }]);
  out.push(['tokenizer.ggml.add_eos_token', { type: GgufValueType.BOOL, value: tc.add_eos_token === true }]);
  if (typeof tc.chat_template === 'string') out.push(['tokenizer.chat_template', str(tc.chat_template)]);
  return out;
}
