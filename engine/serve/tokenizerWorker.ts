// The worker thread behind tokenizerPool.ts: the model folder's tokenizer, off the server's event loop. A long
// text is encoded line-wise first, stopping as soon as it is certain to pass the limit; only a text that may fit
// is then encoded whole, so the answer is always the tokenizer's own.
import { parentPort, workerData } from 'node:worker_threads';
import { ModelTokenizer } from '../tokenizer/modelTokenizer';
import type { TokenizerReply, TokenizerRequest } from './tokenizerPool';

/** Texts up to this many characters are encoded whole at once. */
const PIECE_CHARS = 64 * 1024;
/**
 * Tokens by which encoding a text piece-wise may overcount it. Pieces end after a newline, which DeepSeek's
 * pre-tokenizer always isolates (no merge crosses it); the slack covers tokenizers that merge across a line end.
 */
const SLACK_PER_PIECE = 2;

const tokenizer = ModelTokenizer.load((workerData as { modelDir: string }).modelDir);

parentPort!.on('message', (request: TokenizerRequest) => {
  let reply: TokenizerReply;
  try {
    reply = request.op === 'encode'
      ? encodeWithin(request.id, request.text, request.limit)
      : { id: request.id, text: tokenizer.decode(request.ids, { skipSpecial: request.skipSpecial }) };
  } catch (e) {
    reply = { id: request.id, error: (e as Error).message };
  }
  parentPort!.postMessage(reply);
});

function encodeWithin(id: number, text: string, limit: number): TokenizerReply {
  if (text.length > PIECE_CHARS) {
    let counted = 0;
    let pieces = 0;
    for (let start = 0; start < text.length;) {
      const end = pieceEnd(text, start);
      counted += tokenizer.encode(text.slice(start, end)).length;
      pieces++;
      const certain = counted - SLACK_PER_PIECE * (pieces - 1);
      if (certain > limit) return { id, tokensAtLeast: certain };
      start = end;
    }
  }
  const ids = tokenizer.encode(text);
  return ids.length > limit ? { id, tokensAtLeast: ids.length } : { id, ids };
}

/** The end of the piece starting at `start`: just after the first newline past PIECE_CHARS, or the text's end. */
function pieceEnd(text: string, start: number): number {
  if (text.length - start <= PIECE_CHARS) return text.length;
  const newline = text.indexOf('\n', start + PIECE_CHARS);
  return newline < 0 ? text.length : newline + 1;
}
