// GET /latent/identity: the engine proves it holds the API key, to a client that has sent nothing but a random
// challenge (engineLink/identityProof.ts). Bound to the port the request came in on, so no relay can reuse it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CHALLENGE_HEADER, isChallenge } from '../../engineLink/identityProof';
import type { AccessGuard } from './accessGuard';
import { HttpError, sendJson } from './httpError';

export function identityRoute(req: IncomingMessage, res: ServerResponse, guard: AccessGuard): void {
  const challenge = req.headers[CHALLENGE_HEADER];
  if (!isChallenge(challenge)) {
    throw new HttpError(400, `${CHALLENGE_HEADER} must be 22 to 128 base64url characters`, 'invalid_request_error',
      CHALLENGE_HEADER, 'invalid_challenge');
  }
  sendJson(res, 200, { proof: guard.proveIdentity(challenge, req.socket.localPort ?? 0) });
}
