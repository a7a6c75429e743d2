// Token ids of texts, by the tokenizer library the engine uses: reads a JSON array of strings on stdin, writes
// a JSON array of id arrays (no bos added; special-token text is recognised).
//   echo '["def f("]' | node training/encode.mjs models/DIR
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

const dir = process.argv[2];
const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
  JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')));
const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(texts.map((t) => tok.encode(t, { add_special_tokens: false }).ids)));
