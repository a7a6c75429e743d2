// A local `latent serve` for a model folder, shared by every window of the machine: a record file in the user's
// cache directory names the port and key of the running engine; a window that finds none answering starts one
// (holding a lock file so two windows do not both start one), and restarts it with backoff if it dies. Every
// connection to it first makes the engine prove it holds the key (engineIdentity.ts): no impostor gets code.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { DEFAULT_ENGINE_PORT as STANDARD_ENGINE_PORT, defaultApiKeyFile, latentCacheDir } from '../engineLink/localEngineFacts';
import { EngineClient } from './engineClient';
import { VerifiedEngineAgent } from './engineIdentity';

export interface LocalEngineRecord { pid: number; port: number; model: string; backend?: string; keyFile: string }

export interface LocalEngineEvents {
  state(state: 'starting' | 'loading' | 'ready' | 'restarting' | 'error' | 'stopped', message?: string): void;
  /** The engine this window talks to went away: pending requests must fail. */
  lost(reason: string): void;
}

export { latentCacheDir };

/**
 * The port `latent serve` listens on by default; a daemon started by hand is looked for there, and a new one
 * started there when it is free. $LATENT_ENGINE_PORT overrides it; 0 turns it off (tests that must not meet a
 * daemon someone else started).
 */
export const DEFAULT_ENGINE_PORT = process.env.LATENT_ENGINE_PORT !== undefined ? Number(process.env.LATENT_ENGINE_PORT)
  : STANDARD_ENGINE_PORT;

/** The `latent` launcher that starts engines: $LATENT_BIN, else bin/latent.js of this repository or package. */
export function latentBin(): string {
  return process.env.LATENT_BIN ?? path.resolve(__dirname, '..', '..', 'bin', 'latent.js');
}

const READY_TIMEOUT_MS = 10 * 60_000;
const LOCK_STALE_MS = READY_TIMEOUT_MS;
const MAX_BACKOFF_MS = 30_000;

export class LocalEngine {
  private child: ChildProcess | undefined;
  private client: EngineClient | undefined;
  private starting: Promise<EngineClient> | undefined;
  private backoffMs = 500;
  private restartTimer: NodeJS.Timeout | undefined;
  private lastFailure: { message: string; retryAt: number } | undefined;
  private disposed = false;
  private readonly id: string;

  constructor(readonly model: string, readonly backend: string | undefined, private readonly events: LocalEngineEvents,
    /** `latent serve --reuse-policy`; the engine's default when unset. */
    readonly reusePolicy?: string) {
    this.id = createHash('sha256').update(`${path.resolve(model)}\n${backend ?? ''}\n${reusePolicy ?? ''}`).digest('hex').slice(0, 16);
  }

  /** A client for a running engine, starting one when none answers. */
  ready(): Promise<EngineClient> {
    if (this.client) return Promise.resolve(this.client);
    // After a failed start, requests fail at once until the backoff has passed: no new process per keystroke.
    if (!this.starting && this.lastFailure && Date.now() < this.lastFailure.retryAt) {
      return Promise.reject(new Error(this.lastFailure.message));
    }
    this.starting ??= this.acquire().then((client) => {
      this.lastFailure = undefined;
      return client;
    }, (e: Error) => {
      this.lastFailure = { message: e.message, retryAt: Date.now() + this.backoffMs };
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
      throw e;
    }).finally(() => { this.starting = undefined; });
    return this.starting;
  }

  /** A request found the engine unreachable: forget it, so the next request finds or starts one. */
  connectionLost(reason: string): void {
    if (!this.client) return;
    this.client = undefined;
    this.events.lost(reason);
    this.scheduleRestart(reason);
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.restartTimer);
    if (this.child && this.child.exitCode === null) {
      this.child.removeAllListeners('exit');
      this.child.kill('SIGTERM');
      fs.rmSync(this.recordPath(), { force: true });
    }
    this.child = undefined;
    this.client = undefined;
  }

  private recordPath(): string { return path.join(latentCacheDir(), 'engines', `${this.id}.json`); }
  private lockPath(): string { return path.join(latentCacheDir(), 'engines', `${this.id}.lock`); }

  private async acquire(): Promise<EngineClient> {
    fs.mkdirSync(path.dirname(this.recordPath()), { recursive: true, mode: 0o700 });
    for (;;) {
      if (this.disposed) throw new Error('the local engine was stopped');
      const running = (await this.attachToRecord()) ?? (DEFAULT_ENGINE_PORT > 0 ? await this.attachToDefaultPort() : undefined);
      if (running) return running;
      if (this.tryLock()) {
        try {
          // Another window may have finished starting one while we waited for the lock.
          return (await this.attachToRecord()) ?? (await this.start());
        } finally {
          fs.rmSync(this.lockPath(), { force: true });
        }
      }
      this.events.state('loading', 'waiting for another window to start the engine');
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async attachToRecord(): Promise<EngineClient | undefined> {
    let record: LocalEngineRecord;
    try {
      record = JSON.parse(fs.readFileSync(this.recordPath(), 'utf8')) as LocalEngineRecord;
    } catch {
      return undefined;
    }
    const client = verifiedClient(record.port, readKey(record.keyFile));
    if (!client || !(await this.answers(client))) return undefined;
    this.client = client;
    this.events.state('ready', `attached to the engine on port ${record.port} (pid ${record.pid})`);
    return client;
  }

  /** A daemon on the default port, started by hand with the default key, serving this model folder. */
  private async attachToDefaultPort(): Promise<EngineClient | undefined> {
    const client = verifiedClient(DEFAULT_ENGINE_PORT, readKey(defaultApiKeyFile()));
    if (!client) return undefined;
    const health = await client.health(AbortSignal.timeout(2_000));
    this.reportImpostor(client);
    if (health?.model !== path.basename(path.resolve(this.model))) return undefined;
    this.client = client;
    this.events.state('ready', `attached to the engine on port ${DEFAULT_ENGINE_PORT}`);
    return client;
  }

  private async answers(client: EngineClient): Promise<boolean> {
    const healthy = await client.healthy(AbortSignal.timeout(2_000));
    this.reportImpostor(client);
    return healthy;
  }

  /** A process that failed the identity check is named in the status, then passed over. */
  private reportImpostor(client: EngineClient): void {
    const refusal = agents.get(client)?.lastRefusal;
    if (refusal) this.events.state('error', refusal.message);
  }

  private tryLock(): boolean {
    try {
      fs.writeFileSync(this.lockPath(), String(process.pid), { flag: 'wx' });
      return true;
    } catch {
      try {
        if (Date.now() - fs.statSync(this.lockPath()).mtimeMs > LOCK_STALE_MS) fs.rmSync(this.lockPath(), { force: true });
      } catch { /* gone meanwhile */ }
      return false;
    }
  }

  private async start(): Promise<EngineClient> {
    const keyFile = ensureKeyFile();
    const port = DEFAULT_ENGINE_PORT > 0 && (await portIsFree(DEFAULT_ENGINE_PORT)) ? DEFAULT_ENGINE_PORT : await freePort();
    const args = [latentBin(), 'serve', '--model', this.model, '--host', '127.0.0.1', '--port', String(port), '--api-key-file', keyFile];
    if (this.backend) args.push('--backend', this.backend);
    if (this.reusePolicy) args.push('--reuse-policy', this.reusePolicy);
    this.events.state('starting', `starting latent serve for ${this.model} on port ${port}`);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true });
    this.child = child;
    let stderrTail = '';
    child.stderr?.on('data', (d: Buffer) => { stderrTail = (stderrTail + d.toString()).slice(-2000); });
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`latent serve exited (${signal ?? code}) while starting: ${stderrTail.trim()}`)));
      child.once('error', (e) => reject(new Error(`latent serve could not start: ${e.message}`)));
    });
    exited.catch(() => undefined);
    const client = verifiedClient(port, readKey(keyFile));
    if (!client) throw new Error(`cannot read the API key file ${keyFile}`);
    this.events.state('loading', `loading ${this.model}`);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const ok = await Promise.race([client.healthy(AbortSignal.timeout(2_000)), exited]);
      if (ok) break;
      if (Date.now() > deadline) {
        child.kill('SIGTERM');
        throw new Error(`latent serve did not answer on port ${port} within ${READY_TIMEOUT_MS / 1000} s`);
      }
      await Promise.race([new Promise((r) => setTimeout(r, 250)), exited]);
    }
    const record: LocalEngineRecord = { pid: child.pid!, port, model: this.model, backend: this.backend, keyFile };
    fs.writeFileSync(this.recordPath(), JSON.stringify(record), { mode: 0o600 });
    child.removeAllListeners('exit');
    child.once('exit', (code, signal) => this.onExit(`latent serve exited (${signal ?? code}): ${stderrTail.trim().slice(-300)}`));
    this.client = client;
    const healthySince = Date.now();
    setTimeout(() => { if (this.child === child && Date.now() - healthySince >= 60_000) this.backoffMs = 500; }, 60_000).unref();
    this.events.state('ready', `latent serve on port ${port} (pid ${child.pid})`);
    return client;
  }

  private onExit(reason: string): void {
    this.child = undefined;
    this.client = undefined;
    fs.rmSync(this.recordPath(), { force: true });
    if (this.disposed) return;
    this.events.lost(reason);
    this.scheduleRestart(reason);
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
  }

  /** Finds or starts an engine again after a growing pause (0.5 s, 1 s, 2 s, ... 30 s; reset after a healthy minute). */
  private scheduleRestart(reason: string): void {
    const delay = this.backoffMs;
    this.events.state('restarting', `${reason}; restarting in ${delay} ms`);
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.lastFailure = undefined;
      this.ready().catch((e: Error) => {
        this.events.state('error', e.message);
        if (!this.disposed) this.scheduleRestart(e.message);
      });
    }, delay);
  }
}

const agents = new WeakMap<EngineClient, VerifiedEngineAgent>();

/** A client of the engine on 127.0.0.1:`port` whose connections are verified first; none without a key. */
function verifiedClient(port: number, apiKey: string | undefined): EngineClient | undefined {
  if (!apiKey) return undefined;
  const agent = new VerifiedEngineAgent(apiKey);
  const client = new EngineClient({ url: `http://127.0.0.1:${port}`, apiKey }, agent);
  agents.set(client, agent);
  return client;
}

function ensureKeyFile(): string {
  const keyFile = defaultApiKeyFile();
  if (!fs.existsSync(keyFile)) {
    fs.mkdirSync(path.dirname(keyFile), { recursive: true, mode: 0o700 });
    try {
      fs.writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600, flag: 'wx' });
    } catch { /* another window wrote it first */ }
  }
  return keyFile;
}

function readKey(keyFile: string): string | undefined {
  try {
    return fs.readFileSync(keyFile, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
