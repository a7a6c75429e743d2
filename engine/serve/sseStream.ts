// Server-sent events as OpenAI streams them: one `data: <json>` event per chunk, then `data: [DONE]`.
import type { ServerResponse } from 'node:http';

export class SseStream {
  private started = false;

  constructor(private readonly res: ServerResponse) {}

  /** Sends the headers now, so that the client sees the stream open before the first token. */
  open(): void {
    if (this.started) return;
    this.started = true;
    if (this.res.headersSent) return;
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      // Proxies such as nginx would otherwise hold the events back.
      'X-Accel-Buffering': 'no',
    });
    this.res.flushHeaders();
  }

  get isOpen(): boolean {
    return this.started;
  }

  send(chunk: unknown): void {
    this.open();
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }

  close(): void {
    this.open();
    if (!this.res.writableEnded && !this.res.destroyed) this.res.end('data: [DONE]\n\n');
  }
}
