// `npm run bench:serve-load [-- --quick]`: a bounded load on a real `latent serve` over loopback. Several clients
// send streamed completions, FIM completions and chat, mixed, and some hang up mid-stream. Prints throughput
// against the same requests sent one at a time (what continuous batching buys), p50/p99 time to first token,
// and whether any latent cache page was left held. The last line is JSON.
import * as fs from 'node:fs';
import { call, makeModelFolder, makeTempDir, ServeProcess, startServe } from '../serve/serveFixture';

interface Outcome {
  inline: boolean;
  ttftMs: number | null;
  tokens: number;
  cancelled: boolean;
  status: number;
}

const PROMPTS = ['def quicksort(xs):\n', 'public static void main(String[] args) {', 'SELECT name FROM users WHERE',
  'fn parse(input: &str) ->', '<div class="header">', 'async function fetchAll(urls) {'];

/** The i-th request of the mix: a third FIM (inline), a third completion, a third chat; every 4th hangs up. */
function requestAt(i: number, maxTokens: number): { route: string; body: object; cancelAfterChunks?: number; inline?: boolean } {
  const prompt = PROMPTS[i % PROMPTS.length];
  const common = { max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } };
  const cancelAfterChunks = i % 4 === 3 ? 2 : undefined;
  switch (i % 3) {
    case 0: return { route: '/v1/completions', body: { ...common, prompt, suffix: '\n    return result\n' }, cancelAfterChunks,
      inline: true };
    case 1: return { route: '/v1/completions', body: { ...common, prompt }, cancelAfterChunks };
    default: return { route: '/v1/chat/completions', body: { ...common, messages: [{ role: 'user', content: prompt }] }, cancelAfterChunks };
  }
}

async function send(serve: ServeProcess, request: ReturnType<typeof requestAt>): Promise<Outcome> {
  const started = performance.now();
  const controller = new AbortController();
  const res = await fetch(serve.url + request.route, {
    method: 'POST', signal: controller.signal,
    headers: { Authorization: `Bearer ${serve.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(request.body),
  });
  if (res.status !== 200) {
    await res.text();
    return { inline: !!request.inline, ttftMs: null, tokens: 0, cancelled: false, status: res.status };
  }
  const reader = res.body!.getReader();
  let buffer = '';
  let ttftMs: number | null = null;
  let contentChunks = 0;
  let usageTokens: number | null = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += Buffer.from(value).toString();
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end).replace(/^data: /, '');
      buffer = buffer.slice(end + 2);
      if (event === '[DONE]') continue;
      const chunk = JSON.parse(event);
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
      const choice = chunk.choices?.[0];
      const text = choice?.text ?? choice?.delta?.content;
      if (text) {
        contentChunks++;
        ttftMs ??= performance.now() - started;
      }
    }
    if (request.cancelAfterChunks !== undefined && contentChunks >= request.cancelAfterChunks) {
      controller.abort();
      await reader.cancel().catch(() => undefined);
      return { inline: !!request.inline, ttftMs, tokens: contentChunks, cancelled: true, status: 200 };
    }
  }
  return { inline: !!request.inline, ttftMs, tokens: usageTokens ?? contentChunks, cancelled: false, status: 200 };
}

/** The p-th percentile of the outcomes' times to first token, in ms (one decimal). */
function ttftPercentile(outcomes: Outcome[], p: number): number {
  const sorted = outcomes.map((o) => o.ttftMs).filter((t): t is number => t !== null).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return +sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1);
}

async function runLoad(serve: ServeProcess, clients: number, perClient: number, maxTokens: number) {
  const started = performance.now();
  const outcomes = (await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const mine: Outcome[] = [];
    for (let r = 0; r < perClient; r++) mine.push(await send(serve, requestAt(c * perClient + r, maxTokens)));
    return mine;
  }))).flat();
  const seconds = (performance.now() - started) / 1000;
  const tokens = outcomes.reduce((n, o) => n + o.tokens, 0);
  return { outcomes, seconds, tokens, throughput: tokens / seconds };
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const clients = quick ? 3 : 6;
  const perClient = quick ? 3 : 6;
  const maxTokens = quick ? 12 : 32;
  const root = makeTempDir('latent-serve-load-');
  let serve: ServeProcess | undefined;
  try {
    const model = await makeModelFolder(root, true);
    serve = await startServe(model, ['--max-batch', String(clients), '--max-queue', String(clients * 2)]);
    // Warm-up, then the baseline: the same mix, one request at a time.
    await send(serve, requestAt(1, 4));
    const serial = await runLoad(serve, 1, clients * perClient, maxTokens);
    const load = await runLoad(serve, clients, perClient, maxTokens);

    await new Promise((r) => setTimeout(r, 300));
    const health = (await call(serve, 'GET', '/health')).json;
    const result = {
      bench: 'serve-load',
      quick,
      clients,
      requests: load.outcomes.length,
      cancelled: load.outcomes.filter((o) => o.cancelled).length,
      refused: load.outcomes.filter((o) => o.status !== 200).length,
      tokens: load.tokens,
      throughput_tokens_per_s: +load.throughput.toFixed(2),
      serial_throughput_tokens_per_s: +serial.throughput.toFixed(2),
      batching_speedup: +(load.throughput / serial.throughput).toFixed(2),
      ttft_p50_ms: ttftPercentile(load.outcomes, 50),
      ttft_p99_ms: ttftPercentile(load.outcomes, 99),
      // Inline (FIM) completions start before the others and have a place of their own in the batch.
      ttft_inline_p50_ms: ttftPercentile(load.outcomes.filter((o) => o.inline), 50),
      ttft_other_p50_ms: ttftPercentile(load.outcomes.filter((o) => !o.inline), 50),
      serial_ttft_p50_ms: ttftPercentile(serial.outcomes, 50),
      // Pages still pinned with nothing running; what the pool keeps beyond that is the evictable prefix cache.
      pages_leaked: health.pool_pages_pinned,
      pool_pages_cached: health.pool_pages_in_use,
      still_running: health.running + health.queue_depth,
    };
    console.log(`serve-load: ${result.requests} requests from ${clients} clients (${result.cancelled} hung up), ` +
      `${result.throughput_tokens_per_s} tok/s vs ${result.serial_throughput_tokens_per_s} tok/s one at a time ` +
      `(x${result.batching_speedup}); TTFT p50 ${result.ttft_p50_ms} ms, p99 ${result.ttft_p99_ms} ms ` +
      `(inline p50 ${result.ttft_inline_p50_ms} ms, others ${result.ttft_other_p50_ms} ms); ` +
      `pages leaked: ${result.pages_leaked}`);
    console.log(JSON.stringify(result));
    if (result.pages_leaked !== 0 || result.still_running !== 0) process.exitCode = 1;
  } finally {
    await serve?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
