// Reading a request body: bounded in size (a client cannot make the server buffer gigabytes) and in nesting depth
// (a value nested 100,000 deep would overflow the stack of whatever walks it next), and parsed as JSON.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './httpError';

/** Deeper than any OpenAI request needs (messages[i].content[j] is 4 levels). */
export const MAX_JSON_DEPTH = 64;

/** The client closed its connection before its body ended: there is no one to answer. */
export class ClientAborted extends Error {
  constructor() {
    super('the client closed the connection before sending its whole body');
    this.name = 'ClientAborted';
  }
}

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw bodyTooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw bodyTooLarge(maxBytes);
      chunks.push(chunk);
    }
  } catch (e) {
    if (!(e instanceof HttpError) && !req.complete) throw new ClientAborted();
    throw e;
  }
  if (!req.complete) throw new ClientAborted();
  const text = Buffer.concat(chunks).toString('utf8');
  const depth = nestingDepth(text);
  if (depth > MAX_JSON_DEPTH) {
    throw new HttpError(400, `The JSON body nests arrays or objects ${depth} deep; at most ${MAX_JSON_DEPTH} are allowed`,
      'invalid_request_error', null, 'json_too_deep');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `We could not parse the JSON body of your request: ${(e as Error).message}`,
      'invalid_request_error', null, 'invalid_json');
  }
}

/** The deepest nesting of [ and { outside strings, in one pass and without recursion. */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

function bodyTooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `Request body is larger than the server's limit of ${maxBytes} bytes`,
    'invalid_request_error', null, 'request_too_large');
}
