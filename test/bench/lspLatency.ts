// npm run bench:lsp-latency: how long the language server takes from an inline completion request arriving to
// its engine request leaving, on a 10,000-line TypeScript file, each request right after an edit (as when
// typing). Measured inside the server (`lastPrepareMs` of latent/status: the target, p50 <= 5 ms) and end to
// end (the edit and the request leave the client -> the engine receives the HTTP request; this includes applying
// the edit and the incremental tree-sitter re-parse, which the server does when the edit arrives). Also the
// server's memory. Last line: JSON.
//
// The engine is `--engine-url URL [--api-key KEY]` when given; otherwise a loopback HTTP listener that takes the
// completion request and answers with no choices: the span measured ends when the request leaves the server,
// so what answers it does not enter the numbers (the server's own post-processing is not timed here). The
// listener counts tokens for real: its /tokenize answers with the DeepSeek tokenizer (with FIM tokens), as
// `latent serve` does, so the prompt is fitted by exact counts and the tokenizing round trips are in the span.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { ModelTokenizer } from '../../engine/tokenizer/modelTokenizer';
import type { StatusParams } from '../../server/protocol';
import { writeTokenizerWithSpecials } from '../serve/serveFixture';
import { LspSession } from '../server/lspSession';

const LINES = 10_000;
const WARMUP = 20;
const SAMPLES = 300;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** A deterministic TypeScript file of `lines` lines: classes, functions and calls between them. */
function makeSource(lines: number): string {
  const out: string[] = [];
  for (let i = 0; out.length < lines; i++) {
    out.push(
      `export interface Shape${i} { width: number; height: number; label: string }`,
      '',
      `export function area${i}(shape: Shape${i}): number {`,
      `  const scaled = shape.width * ${i % 7 + 1};`,
      `  return scaled * shape.height + helper${Math.max(0, i - 1)}(shape.label);`,
      '}',
      '',
      `export function helper${i}(label: string): number {`,
      `  return label.length + ${i};`,
      '}',
      '',
    );
  }
  return out.slice(0, lines).join('\n') + '\n';
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function rssMiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  let engineUrl = arg('engine-url');
  let sink: http.Server | undefined;
  let received: (() => void) | undefined;
  const tokenizing = { requests: 0, chars: 0 };
  const tokenizerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-lsp-bench-tokenizer-'));
  if (!engineUrl) {
    const tokenizer = ModelTokenizer.load(writeTokenizerWithSpecials(tokenizerDir));
    sink = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/tokenize') {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { prompt: string; add_special_tokens?: boolean };
          tokenizing.requests++;
          tokenizing.chars += body.prompt.length;
          const tokens = tokenizer.encode(body.prompt, { addBos: body.add_special_tokens !== false && tokenizer.addBos });
          res.end(JSON.stringify({ count: tokens.length, max_model_len: 16_384, tokens }));
          return;
        }
        received?.();
        // After the span: the prompt's real size, as an engine would report it (bos, three FIM markers).
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { prompt: string; suffix?: string };
        const promptTokens = 4 + tokenizer.encode(body.prompt).length + tokenizer.encode(body.suffix ?? '').length;
        res.end(JSON.stringify({ choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 0 } } }));
      });
    });
    await new Promise<void>((r) => sink!.listen(0, '127.0.0.1', r));
    engineUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}`;
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-lsp-bench-'));
  const file = path.join(dir, 'big.ts');
  const source = makeSource(LINES);
  fs.writeFileSync(file, source);
  const uri = pathToFileURL(file).toString();
  const { session } = await LspSession.start({ engine: { url: engineUrl, apiKey: arg('api-key'), model: 'bench' }, debounceMs: 0, maxTokens: 1 },
    { rootUri: pathToFileURL(dir).toString() });
  try {
    await session.open(uri, 'typescript', source);
    const line = LINES / 2;
    const lineText = source.split('\n')[line];
    let column = lineText.length;
    let version = 1;
    const internal: number[] = [];
    let tokenizedBefore = { ...tokenizing };
    const endToEnd: number[] = [];
    for (let i = 0; i < WARMUP + SAMPLES; i++) {
      // Type one character at the end of a line in the middle of the file, then ask for a completion there.
      version++;
      const statusesBefore = session.statuses.length;
      const arrived = new Promise<number>((resolve) => { received = () => resolve(performance.now()); });
      const sent = performance.now();
      await session.connection.sendNotification('textDocument/didChange', {
        textDocument: { uri, version },
        contentChanges: [{ range: { start: { line, character: column }, end: { line, character: column } }, text: i % 2 ? ' ' : 'x' }],
      });
      column++;
      await session.connection.sendRequest('textDocument/inlineCompletion', {
        textDocument: { uri }, position: { line, character: column }, context: { triggerKind: 2 },
      });
      const reached = await Promise.race([arrived, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000))]);
      received = undefined;
      // The status arrives just before the response; give it a moment in case it is still in flight.
      for (let t = 0; t < 20 && session.statuses.length === statusesBefore; t++) await new Promise((r) => setTimeout(r, 1));
      if (i < WARMUP) {
        tokenizedBefore = { ...tokenizing };
        continue;
      }
      const status: StatusParams | undefined = session.statuses.length > statusesBefore ? session.statuses[session.statuses.length - 1] : undefined;
      if (status?.lastPrepareMs !== undefined) internal.push(status.lastPrepareMs);
      if (sink && reached !== undefined) endToEnd.push(reached - sent);
    }
    internal.sort((a, b) => a - b);
    endToEnd.sort((a, b) => a - b);
    const result = {
      bench: 'lsp-latency',
      lines: LINES,
      samples: internal.length,
      engine: sink ? 'loopback listener (span ends when the request leaves)' : engineUrl,
      prepare_p50_ms: percentile(internal, 0.5),
      prepare_p99_ms: percentile(internal, 0.99),
      end_to_end_p50_ms: sink ? Math.round(percentile(endToEnd, 0.5) * 100) / 100 : undefined,
      end_to_end_p99_ms: sink ? Math.round(percentile(endToEnd, 0.99) * 100) / 100 : undefined,
      target_p50_ms: 5,
      p50_over_target: Math.round((percentile(internal, 0.5) / 5) * 1000) / 1000,
      server_rss_mib: rssMiB(session.child.pid!),
      token_counting: session.logs.find((l) => l.startsWith('token counts:')),
      tokenize_requests_per_edit: Math.round(((tokenizing.requests - tokenizedBefore.requests) / SAMPLES) * 100) / 100,
      tokenized_chars_per_edit: Math.round((tokenizing.chars - tokenizedBefore.chars) / SAMPLES),
      last_prompt_tokens: session.statuses.at(-1)?.lastPromptTokens,
    };
    console.log(`prepare (request arrives -> engine request leaves): p50 ${result.prepare_p50_ms} ms, p99 ${result.prepare_p99_ms} ms over ${result.samples} edits`);
    if (sink) console.log(`end to end (edit + request leave the client -> engine receives; includes the re-parse): p50 ${result.end_to_end_p50_ms} ms, p99 ${result.end_to_end_p99_ms} ms`);
    console.log(`server memory: ${result.server_rss_mib} MiB RSS`);
    console.log(`${result.token_counting}; ${result.tokenize_requests_per_edit} /tokenize requests and ${result.tokenized_chars_per_edit} characters tokenized per edit`);
    console.log(JSON.stringify(result));
  } finally {
    await session.stop();
    sink?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(tokenizerDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
