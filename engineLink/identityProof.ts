// How a local engine proves it is the user's own `latent serve` before a client sends it the API key or any code:
// the client sends a fresh random challenge (and nothing else); the engine answers with an HMAC of it under the
// API key, bound to the port the engine itself listens on, so an impostor can neither answer nor relay the
// challenge to the real engine on another port and pass its answer on.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Answered without the bearer key (the Host and Origin checks still apply). */
export const IDENTITY_PATH = '/latent/identity';
export const CHALLENGE_HEADER = 'x-latent-challenge';
const CHALLENGE_PATTERN = /^[A-Za-z0-9_-]{22,128}$/;

export function newChallenge(): string {
  return randomBytes(32).toString('base64url');
}

export function isChallenge(value: unknown): value is string {
  return typeof value === 'string' && CHALLENGE_PATTERN.test(value);
}

/** The engine's answer to `challenge`, received on `port`. */
export function identityProof(apiKey: string, challenge: string, port: number): string {
  return createHmac('sha256', apiKey).update(`latent-identity-v1\n${port}\n${challenge}`).digest('hex');
}

export function isValidProof(apiKey: string, challenge: string, port: number, proof: unknown): boolean {
  if (typeof proof !== 'string' || !/^[0-9a-f]{64}$/.test(proof)) return false;
  return timingSafeEqual(Buffer.from(identityProof(apiKey, challenge, port), 'hex'), Buffer.from(proof, 'hex'));
}
