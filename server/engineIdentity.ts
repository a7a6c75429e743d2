// Connections to a local engine that prove, before anything else crosses them, that the process listening holds
// the user's API key (engineLink/identityProof.ts): each new connection first carries one GET /latent/identity with
// a fresh challenge and no key; only when the answer is the key's HMAC of that challenge, bound to this port, does
// the connection go to undici for real requests. An impostor on the port (another user who took it first) gets a
// random challenge and nothing else: no key, no code.
import type * as net from 'node:net';
import { Agent, buildConnector } from 'undici';
import { CHALLENGE_HEADER, IDENTITY_PATH, isValidProof, newChallenge } from '../engineLink/identityProof';

const IDENTITY_TIMEOUT_MS = 5_000;
const MAX_ANSWER_BYTES = 16 * 1024;

/** The process on a port could not prove it is the user's engine. */
export class EngineImpostorError extends Error {
  constructor(readonly port: number, reason: string) {
    super(`the process on 127.0.0.1:${port} did not prove it holds this user's API key (${reason}); ` +
      'nothing was sent to it');
    this.name = 'EngineImpostorError';
  }
}

/** An undici Agent whose every connection is verified first; `lastRefusal` says why one was not. */
export class VerifiedEngineAgent extends Agent {
  lastRefusal: EngineImpostorError | undefined;

  constructor(apiKey: string) {
    const connect = buildConnector({ timeout: 5_000 });
    super({
      keepAliveTimeout: 30_000, headersTimeout: 600_000, bodyTimeout: 600_000,
      connect: (options, callback) => {
        connect(options, (error, socket) => {
          if (error || !socket) return callback(error ?? new Error('no socket'), null);
          const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
          proveIdentity(socket as net.Socket, apiKey, options.hostname, port).then(() => {
            this.lastRefusal = undefined;
            callback(null, socket);
          }, (e: EngineImpostorError) => {
            this.lastRefusal = e;
            socket.destroy();
            callback(e, null);
          });
        });
      },
    });
  }
}

/** Sends the challenge on `socket` and checks the answer; resolves with the socket ready for real requests. */
function proveIdentity(socket: net.Socket, apiKey: string, hostname: string, port: number): Promise<void> {
  const challenge = newChallenge();
  return new Promise<void>((resolve, reject) => {
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new EngineImpostorError(port, 'no answer to the challenge')), IDENTITY_TIMEOUT_MS);
    const finish = (error?: EngineImpostorError): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onClose);
      socket.pause();
      if (error) reject(error);
      else resolve();
    };
    const onClose = (): void => finish(new EngineImpostorError(port, 'it closed the connection'));
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.length > MAX_ANSWER_BYTES) return finish(new EngineImpostorError(port, 'an oversized answer'));
      const answer = parseAnswer(received);
      if (answer === 'incomplete') return;
      if (answer === undefined) return finish(new EngineImpostorError(port, 'not an answer of latent serve'));
      let proof: unknown;
      try {
        proof = (JSON.parse(answer.body) as { proof?: unknown }).proof;
      } catch { /* judged below */ }
      if (answer.status !== 200 || !isValidProof(apiKey, challenge, port, proof)) {
        return finish(new EngineImpostorError(port, `a wrong answer (HTTP ${answer.status})`));
      }
      finish();
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onClose);
    const host = hostname.includes(':') ? `[${hostname}]` : hostname;
    socket.write(`GET ${IDENTITY_PATH} HTTP/1.1\r\nHost: ${host}:${port}\r\n${CHALLENGE_HEADER}: ${challenge}\r\n\r\n`);
  });
}

/** An HTTP/1.1 answer with a Content-Length body, 'incomplete' while bytes are missing, undefined if malformed. */
function parseAnswer(bytes: Buffer): { status: number; body: string } | 'incomplete' | undefined {
  const headerEnd = bytes.indexOf('\r\n\r\n');
  if (headerEnd < 0) return 'incomplete';
  const head = bytes.subarray(0, headerEnd).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3}) /.exec(head[0]);
  const length = head.map((line) => /^content-length:\s*(\d+)\s*$/i.exec(line)).find(Boolean);
  if (!status || !length) return undefined;
  const bodyEnd = headerEnd + 4 + Number(length[1]);
  if (bytes.length < bodyEnd) return 'incomplete';
  // Bytes beyond the answer would be read by undici as the answer to its first request.
  if (bytes.length > bodyEnd) return undefined;
  return { status: Number(status[1]), body: bytes.subarray(headerEnd + 4, bodyEnd).toString('utf8') };
}
