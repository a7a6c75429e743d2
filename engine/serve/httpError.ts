// Errors the server answers with, in OpenAI's error shape, so that OpenAI clients show them as their own.
import type { ServerResponse } from 'node:http';
import { SseStream } from './sseStream';

export type OpenAiErrorType = 'invalid_request_error' | 'authentication_error' | 'permission_error' |
  'not_found_error' | 'rate_limit_error' | 'server_error';

/** An error that becomes one HTTP answer: status, OpenAI error object, and headers such as Retry-After. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: OpenAiErrorType,
    /** The request field at fault (OpenAI's `param`), when there is one. */
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toBody(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 naming the field at fault. */
export function invalidField(param: string, message: string): HttpError {
  return new HttpError(400, message, 'invalid_request_error', param, 'invalid_value');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendJson(res, error.status, error.toBody(), error.headers);
}

/**
 * Answers with `error`, whatever the route: as a JSON error before anything was sent, and as the stream's last
 * event once a stream has started (its status line is already out).
 */
export function answerWithError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    const stream = new SseStream(res);
    stream.send(error.toBody());
    stream.close();
  } else {
    sendError(res, error);
  }
}
