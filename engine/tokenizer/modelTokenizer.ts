// A model folder's tokenizer (tokenizer.json + tokenizer_config.json) through @huggingface/tokenizers. Special
// tokens (bos, eos, FIM) and the chat template are read from the folder, never hard-coded.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ggufHasTokenizer, isGgufFile, readGgufTokenizer } from '../weights/gguf/ggufModel';
import type * as HfTokenizers from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };

// The package is ESM-typed but ships a CommonJS build, which this CommonJS project loads.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Tokenizer } = require('@huggingface/tokenizers') as typeof HfTokenizers;
type Tokenizer = HfTokenizers.Tokenizer;

export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

/** DeepSeek's fill-in-the-middle tokens, by their text; their ids come from the folder. */
export const FIM_TOKEN_TEXT = { begin: '<｜fim▁begin｜>', hole: '<｜fim▁hole｜>', end: '<｜fim▁end｜>' } as const;

/**
 * How an editor's infill prompt should be laid out for this model (tokenizer_config.json `infill_prompt`):
 * 'fim' (the default): <fim-begin> prefix <fim-hole> suffix <fim-end>, as DeepSeek-Coder-V2 is trained;
 * 'prefix': the text before the cursor alone, for a model whose FIM answers were measured worse than its plain
 * continuations (the project's small default model: training/README.md).
 */
export type InfillPrompt = 'fim' | 'prefix';

export interface SpecialTokens {
  bos: number | null;
  eos: number | null;
  /** Present only when the folder's tokenizer has all three FIM tokens. */
  fim: { begin: number; hole: number; end: number } | null;
}

export class ModelTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly special: SpecialTokens,
    readonly bosText: string | null,
    readonly eosText: string | null,
    /** The Jinja chat template of tokenizer_config.json, when the model has one. */
    readonly chatTemplate: string | null,
    readonly addBos: boolean,
    readonly vocabSize: number,
    /**
     * No token stands for more bytes of text than this (an upper bound: the vocabulary's strings in UTF-8), so a
     * text of B bytes has at least B / maxTokenBytes tokens: a server refuses text too long for its context unread.
     */
    readonly maxTokenBytes: number,
    readonly infillPrompt: InfillPrompt,
  ) {}

  /** Whether `source` (a model folder or a GGUF file) has a tokenizer at all (the test fixtures have none). */
  static exists(source: string): boolean {
    if (isGgufFile(source)) return ggufHasTokenizer(source);
    return fs.existsSync(path.join(source, 'tokenizer.json'));
  }

  /** The tokenizer of a model folder (tokenizer.json + tokenizer_config.json) or of a GGUF file's metadata. */
  static load(source: string): ModelTokenizer {
    if (isGgufFile(source)) {
      const { tokenizerJson, tokenizerConfig } = readGgufTokenizer(source);
      return ModelTokenizer.fromJson(tokenizerJson, tokenizerConfig, `${source} (tokenizer.ggml metadata)`);
    }
    const tokFile = path.join(source, 'tokenizer.json');
    const cfgFile = path.join(source, 'tokenizer_config.json');
    const json = readJson(tokFile);
    const config = (fs.existsSync(cfgFile) ? readJson(cfgFile) : {}) as Record<string, unknown>;
    return ModelTokenizer.fromJson(json as object, config, tokFile);
  }

  /** A tokenizer from the contents of tokenizer.json and tokenizer_config.json (`source` names them in errors). */
  static fromJson(json: object, config: Record<string, unknown>, source: string): ModelTokenizer {
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (e) {
      throw new TokenizerError(`${source}: cannot build the tokenizer (${(e as Error).message})`);
    }
    const tokenText = (v: unknown): string | null => (typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : null);
    const bosText = tokenText(config.bos_token);
    const eosText = tokenText(config.eos_token);
    const id = (text: string | null) => (text === null ? null : tokenizer.token_to_id(text) ?? null);
    const begin = id(FIM_TOKEN_TEXT.begin), hole = id(FIM_TOKEN_TEXT.hole), end = id(FIM_TOKEN_TEXT.end);
    const special: SpecialTokens = {
      bos: id(bosText),
      eos: id(eosText),
      fim: begin !== null && hole !== null && end !== null ? { begin, hole, end } : null,
    };
    const template = typeof config.chat_template === 'string' ? config.chat_template : null;
    const infill = config.infill_prompt ?? 'fim';
    if (infill !== 'fim' && infill !== 'prefix') {
      throw new TokenizerError(`${source}: infill_prompt must be "fim" or "prefix", not ${JSON.stringify(infill)}`);
    }
    const vocab = tokenizer.get_vocab(true);
    let vocabSize = 0;
    for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
    let maxTokenBytes = 1;
    for (const text of vocab.keys()) maxTokenBytes = Math.max(maxTokenBytes, Buffer.byteLength(text));
    return new ModelTokenizer(tokenizer, special, bosText, eosText, template, config.add_bos_token !== false, vocabSize,
      maxTokenBytes, infill);
  }

  /** Token ids of plain text: special-token text inside it is still recognised as special tokens. */
  encode(text: string, options: { addBos?: boolean } = {}): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    return options.addBos && this.special.bos !== null ? [this.special.bos, ...ids] : ids;
  }

  decode(ids: number[], options: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.tokenizer.decode(ids, { skip_special_tokens: options.skipSpecial ?? true });
  }

  tokenText(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }
}

function readJson(file: string): unknown {
  if (!fs.existsSync(file)) throw new TokenizerError(`${file}: missing`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TokenizerError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}
