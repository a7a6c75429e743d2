// Who may talk to the server: a request must name this server in its Host header (a web page that rebinds its
// own domain to 127.0.0.1 sends its domain there), come from no foreign web origin, and carry the bearer key.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { identityProof } from '../../engineLink/identityProof';
import { HttpError } from './httpError';

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]', '::1'];

export class AccessGuard {
  private readonly allowedHostnames: Set<string>;
  private readonly keyDigest: Buffer;

  constructor(private readonly apiKey: string, boundHost: string, extraHosts: string[] = []) {
    this.keyDigest = digest(apiKey);
    const bound = boundHost.includes(':') && !boundHost.startsWith('[') ? `[${boundHost}]` : boundHost;
    this.allowedHostnames = new Set([...LOOPBACK_NAMES, bound, ...extraHosts].map((h) => h.toLowerCase()));
  }

  /** Throws the HttpError to answer with, or returns when the request may proceed. */
  check(req: IncomingMessage): void {
    this.checkOrigin(req);
    this.checkKey(req);
  }

  /** The Host and Origin checks alone: for the identity challenge, which a client answers before it sends the key. */
  checkOrigin(req: IncomingMessage): void {
    const host = req.headers.host;
    if (!host || !this.allowedHostnames.has(hostnameOf(host))) {
      throw new HttpError(403, `Host '${host ?? ''}' is not this server`, 'permission_error', null, 'forbidden_host');
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.isOwnOrigin(origin)) {
      throw new HttpError(403, `Origin '${origin}' may not use this server`, 'permission_error', null, 'forbidden_origin');
    }
  }

  checkKey(req: IncomingMessage): void {
    const auth = req.headers.authorization;
    const match = auth ? /^Bearer\s+(.+)$/i.exec(auth) : null;
    if (!match) {
      throw new HttpError(401, 'Missing API key: send Authorization: Bearer <key>', 'authentication_error', null,
        'missing_api_key');
    }
    // Compare digests so that the comparison takes the same time whatever the key's length.
    if (!timingSafeEqual(digest(match[1].trim()), this.keyDigest)) {
      throw new HttpError(401, 'Incorrect API key provided', 'authentication_error', null, 'invalid_api_key');
    }
  }

  /** This server's answer to a client's identity challenge received on `port` (engineLink/identityProof.ts). */
  proveIdentity(challenge: string, port: number): string {
    return identityProof(this.apiKey, challenge, port);
  }

  private isOwnOrigin(origin: string): boolean {
    try {
      return this.allowedHostnames.has(new URL(origin).hostname.toLowerCase());
    } catch {
      return false;
    }
  }
}

/** "Example.com:8080" -> "example.com"; "[::1]:80" -> "[::1]". */
function hostnameOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon >= 0 ? h.slice(0, colon) : h;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
