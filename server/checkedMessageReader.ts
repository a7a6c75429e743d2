// The language server's message reader, with two rules the stock one lacks. A framing error (a header without
// Content-Length, a Content-Length longer than its body that swallows the next frame) leaves the stream at an
// unknown place: nothing after it can be trusted, so the server exits and the client's restart logic starts a
// fresh one, instead of a server that is alive and never answers again. And `params: null` (not structured, so
// not valid JSON-RPC) reaches the handlers as absent params, which they refuse with -32602 naming what is missing,
// rather than crashing inside the library with -32603.
import type { DataCallback, Disposable, Message, MessageReader } from 'vscode-jsonrpc';

export class CheckedMessageReader implements MessageReader {
  constructor(private readonly inner: MessageReader, private readonly onFramingError: (error: Error) => void) {
    inner.onError((error) => onFramingError(error));
  }

  get onError() { return this.inner.onError; }
  get onClose() { return this.inner.onClose; }
  get onPartialMessage() { return this.inner.onPartialMessage; }

  listen(callback: DataCallback): Disposable {
    return this.inner.listen((message: Message) => {
      const withParams = message as Message & { params?: unknown };
      if (withParams.params === null) delete withParams.params;
      callback(message);
    });
  }

  dispose(): void {
    this.inner.dispose();
  }
}
