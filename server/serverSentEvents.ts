// Reads an OpenAI-style server-sent-event stream: `data: {json}` events separated by blank lines, ending with
// `data: [DONE]`. Yields each JSON payload.

export async function* readServerSentEvents(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body) {
    buffered += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let boundary: RegExpExecArray | null;
    while ((boundary = /\r?\n\r?\n/.exec(buffered))) {
      const event = buffered.slice(0, boundary.index);
      buffered = buffered.slice(boundary.index + boundary[0].length);
      const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data === '') continue;
      if (data === '[DONE]') return;
      yield JSON.parse(data);
    }
  }
}
