// What a random checkpoint needs to know of a tokenizer folder: how many ids it uses (so the embeddings cover
// them all) and which ids its bos/eos tokens have (so config.json agrees with tokenizer_config.json).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFolderError } from './modelFolder';

export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'] as const;

export interface TokenizerFacts {
  /** The tokenizer files present in the folder (tokenizer.json always is). */
  files: string[];
  /** One more than the largest token id, added tokens included. */
  idCount: number;
  bosTokenId: number | null;
  eosTokenId: number | null;
}

function readJson(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ModelFolderError(`${file}: cannot read as JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelFolderError(`${file}: expected a JSON object`);
  return raw as Record<string, unknown>;
}

export function readTokenizerFacts(dir: string): TokenizerFacts {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new ModelFolderError(`${dir}: tokenizer folder not found`);
  const tokenizerFile = path.join(dir, 'tokenizer.json');
  if (!fs.existsSync(tokenizerFile)) throw new ModelFolderError(`${tokenizerFile}: missing (a tokenizer folder needs tokenizer.json)`);
  const tokenizer = readJson(tokenizerFile);

  const ids = new Map<string, number>();
  const model = tokenizer.model as { vocab?: unknown } | undefined;
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], ...], the id is the index.
    vocab.forEach((entry, id) => Array.isArray(entry) && typeof entry[0] === 'string' && ids.set(entry[0], id));
  } else if (vocab && typeof vocab === 'object') {
    for (const [piece, id] of Object.entries(vocab)) if (Number.isInteger(id)) ids.set(piece, id as number);
  } else {
    throw new ModelFolderError(`${tokenizerFile}: no "model.vocab"`);
  }
  const added = Array.isArray(tokenizer.added_tokens) ? (tokenizer.added_tokens as { id?: unknown; content?: unknown }[]) : [];
  for (const t of added) if (typeof t?.content === 'string' && Number.isInteger(t.id)) ids.set(t.content, t.id as number);
  let idCount = 0;
  for (const id of ids.values()) idCount = Math.max(idCount, id + 1);
  if (idCount === 0) throw new ModelFolderError(`${tokenizerFile}: the vocabulary is empty`);

  const files = ['tokenizer.json'];
  let bosTokenId: number | null = null;
  let eosTokenId: number | null = null;
  const configFile = path.join(dir, 'tokenizer_config.json');
  if (fs.existsSync(configFile)) {
    files.push('tokenizer_config.json');
    const tc = readJson(configFile);
    const idOf = (key: string): number | null => {
      const v = tc[key];
      const content = typeof v === 'string' ? v : v && typeof v === 'object' ? (v as { content?: unknown }).content : null;
      if (typeof content !== 'string') return null;
      const id = ids.get(content);
      if (id === undefined) throw new ModelFolderError(`${configFile}: "${key}" ${JSON.stringify(content)} is not a token of ${tokenizerFile}`);
      return id;
    };
    bosTokenId = idOf('bos_token');
    eosTokenId = idOf('eos_token');
  }
  return { files, idCount, bosTokenId, eosTokenId };
}
