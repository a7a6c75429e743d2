// The HTTP server: access checks first, then one handler per route. Any error becomes an OpenAI-style answer;
// nothing a client sends can take the process down.
import * as http from 'node:http';
import { IDENTITY_PATH } from '../../engineLink/identityProof';
import type { AccessGuard } from './accessGuard';
import { chatCompletionsRoute, completionsRoute, type GenerationContext } from './generationRoutes';
import { answerWithError, HttpError, sendJson } from './httpError';
import { identityRoute } from './identityRoute';
import { ClientAborted } from './jsonBody';
import { detokenizeRoute, tokenizeRoute } from './tokenizeRoutes';

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
  let openConnections = 0;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    // 'close' rather than 'finish': a stream whose client went away counts too.
    res.on('close', () => ctx.metrics.countRequest(path, res.statusCode));
    const refuse = (error: HttpError): void => {
      if (res.writableEnded || res.destroyed) return;
      // A request answered before its body was read (refused, unknown, too large) must not make the server read
      // that body to its end to keep the connection: close it instead.
      if (!req.complete) res.setHeader('Connection', 'close');
      answerWithError(res, error);
    };
    if (openConnections > ctx.options.maxConnections) {
      refuse(new HttpError(503, `The server has ${ctx.options.maxConnections} connections open, its limit; ` +
        'retry shortly', 'server_error', null, 'too_many_connections', { 'Retry-After': '1', Connection: 'close' }));
      return;
    }
    dispatch(req, res, path, ctx, guard).catch((e: unknown) => {
      // A client that hung up before sending its whole body is gone: nothing to answer, nothing to log.
      if (e instanceof ClientAborted) return;
      const error = e instanceof HttpError ? e
        : new HttpError(500, `Internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error');
      if (error.status === 500) console.error(`latent serve: ${req.method} ${path}:`, e);
      refuse(error);
    });
  });
  server.on('connection', (socket) => {
    openConnections++;
    socket.once('close', () => { openConnections--; });
  });
  // Past twice the limit, connections are dropped unanswered: each one costs a file descriptor.
  server.maxConnections = 2 * ctx.options.maxConnections;
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
  if (path === IDENTITY_PATH && req.method === 'GET') {
    guard.checkOrigin(req);
    identityRoute(req, res, guard);
    return;
  }
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
    data: [{
      id: model.id, object: 'model', created: model.created, owned_by: 'latent', max_model_len: model.contextLength,
      // Not OpenAI's: how an editor should lay out an infill prompt for this model ('fim' or 'prefix').
      infill_prompt: model.infillPrompt,
    }],
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
