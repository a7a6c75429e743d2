// Reading a request body: bounded in size (a client cannot make the server buffer gigabytes) and parsed as JSON.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './httpError';

export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw bodyTooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw bodyTooLarge(maxBytes);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `We could not parse the JSON body of your request: ${(e as Error).message}`,
      'invalid_request_error', null, 'invalid_json');
  }
}

function bodyTooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `Request body is larger than the server's limit of ${maxBytes} bytes`,
    'invalid_request_error', null, 'request_too_large');
}
