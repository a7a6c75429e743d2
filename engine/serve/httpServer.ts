// The HTTP server: access checks first, then one handler per route. Any error becomes an OpenAI-style answer;
// nothing a client sends can take the process down.
import * as http from 'node:http';
import type { AccessGuard } from './accessGuard';
import { chatCompletionsRoute, completionsRoute, type GenerationContext } from './generationRoutes';
import { detokenizeRoute, tokenizeRoute } from './tokenizeRoutes';
import { answerWithError, HttpError, sendJson } from './httpError';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, ctx: GenerationContext) => Promise<void>;

const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '/v1/completions': { POST: completionsRoute },
  '/v1/chat/completions': { POST: chatCompletionsRoute },
  '/v1/models': { GET: modelsRoute },
  '/tokenize': { POST: tokenizeRoute },
  '/detokenize': { POST: detokenizeRoute },
  '/health': { GET: healthRoute },
  '/metrics': { GET: metricsRoute },
};

export function createServeServer(ctx: GenerationContext, guard: AccessGuard): http.Server {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    // 'close' rather than 'finish': a stream whose client went away counts too.
    res.on('close', () => ctx.metrics.countRequest(path, res.statusCode));
    // A body the server refused is not read to its end: close the connection instead.
    res.on('finish', () => {
      if (res.statusCode === 413) req.destroy();
    });
    dispatch(req, res, path, ctx, guard).catch((e: unknown) => {
      const error = e instanceof HttpError ? e
        : new HttpError(500, `Internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error');
      if (error.status === 500) console.error(`latent serve: ${req.method} ${path}:`, e);
      if (res.writableEnded || res.destroyed) return;
      if (error.status === 413) res.setHeader('Connection', 'close');
      answerWithError(res, error);
    });
  });
  // Slow or idle clients must not hold sockets for ever; streams of long generations are kept alive by data.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  return server;
}

async function dispatch(req: http.IncomingMessage, res: http.ServerResponse, path: string, ctx: GenerationContext,
  guard: AccessGuard): Promise<void> {
  guard.check(req);
  const methods = ROUTES[path];
  if (!methods) throw new HttpError(404, `Unknown path ${path}`, 'invalid_request_error', null, 'unknown_url');
  const handler = methods[req.method ?? ''];
  if (!handler) {
    throw new HttpError(405, `${req.method} is not allowed on ${path}`, 'invalid_request_error', null,
      'method_not_allowed', { Allow: Object.keys(methods).join(', ') });
  }
  await handler(req, res, ctx);
}

async function modelsRoute(_req: http.IncomingMessage, res: http.ServerResponse, ctx: GenerationContext): Promise<void> {
  const { model } = ctx;
  sendJson(res, 200, {
    object: 'list',
    data: [{ id: model.id, object: 'model', created: model.created, owned_by: 'latent', max_model_len: model.contextLength }],
  });
}

async function healthRoute(_req: http.IncomingMessage, res: http.ServerResponse, ctx: GenerationContext): Promise<void> {
  sendJson(res, 200, {
    status: 'ok',
    model: ctx.model.id,
    queue_depth: ctx.scheduler.queueDepth,
    running: ctx.scheduler.runningSequences,
    pool_pages_in_use: ctx.model.poolPagesInUse(),
    pool_pages_pinned: ctx.model.poolPagesPinned(),
    cache_tokens_in_use: ctx.model.cacheTokensInUse(),
  });
}

async function metricsRoute(_req: http.IncomingMessage, res: http.ServerResponse, ctx: GenerationContext): Promise<void> {
  const { contentType, body } = await ctx.metrics.text();
  res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
