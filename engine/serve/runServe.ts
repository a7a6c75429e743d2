// `latent serve`: load the model, resolve the key, listen, and shut down cleanly on SIGINT/SIGTERM.
import type { AddressInfo } from 'node:net';
import { AccessGuard } from './accessGuard';
import { resolveApiKey } from './apiKey';
import { bindEngine } from './engineBinding';
import { createServeServer } from './httpServer';
import { Scheduler } from './scheduler';
import { ServeMetrics } from './serveMetrics';
import { parseServeOptions } from './serveOptions';

/** Starts the server; resolves once it listens, with a function that stops it. */
export async function runServe(argv: string[]): Promise<{ url: string; close: () => Promise<void> }> {
  const options = parseServeOptions(argv);
  const apiKey = resolveApiKey(options.apiKeyFile);
  const model = await bindEngine(options);
  const scheduler = new Scheduler(model.runner, { maxBatch: options.maxBatch, maxQueue: options.maxQueue });
  const metrics = new ServeMetrics({
    queueDepth: () => scheduler.queueDepth,
    runningSequences: () => scheduler.runningSequences,
    poolPagesInUse: () => model.poolPagesInUse(),
    poolPagesPinned: () => model.poolPagesPinned(),
    cacheTokensInUse: () => model.cacheTokensInUse(),
  });
  const server = createServeServer({ model, scheduler, metrics, options },
    new AccessGuard(apiKey.key, options.host, options.allowedHosts));

  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => reject(e.code === 'EADDRINUSE'
        ? new Error(`serve: ${options.host}:${options.port} is in use (another latent serve?); pick --port`) : e);
      server.once('error', onError);
      server.listen(options.port, options.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
  } catch (e) {
    // The tokenizer's worker threads would keep a server that never listened alive.
    await model.close();
    throw e;
  }
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  // Clients (and tests) read these lines to find the server and its key.
  console.log(`latent serve: model ${model.id} (context ${model.contextLength} tokens, backend ${model.backend}${options.weights ? `, weights ${options.weights}` : ''})`);
  console.log(`latent serve: API key from ${apiKey.origin}`);
  console.log(`latent serve: listening on ${url}`);

  const close = async (): Promise<void> => {
    scheduler.drain();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await model.close();
  };
  return { url, close };
}

/** The CLI entry (`latent serve ...`): serves until SIGINT/SIGTERM; no request's failure ends the process. */
export async function serveCommand(argv: string[]): Promise<void> {
  const served = await runServe(argv);
  process.on('uncaughtException', (e) => console.error('latent serve: uncaught error (still serving):', e));
  process.on('unhandledRejection', (e) => console.error('latent serve: unhandled rejection (still serving):', e));
  const stop = (): void => {
    console.log('latent serve: shutting down');
    // Streams that will not end must not keep the process alive.
    setTimeout(() => process.exit(0), 5000).unref();
    served.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
