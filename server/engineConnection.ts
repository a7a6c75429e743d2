// The engine this server uses, as the settings say: attach to a URL, or a local `latent serve` for a model
// folder. Every request runs through `run`, which gives it an abort signal: the client's cancellation, a
// settings change or the local engine dying all abort it at once, so pending requests fail cleanly.
import { defaultModelDir } from '../engine/defaultModel';
import { EngineClient } from './engineClient';
import { EngineError } from './engineErrors';
import { LocalEngine } from './localEngine';
import { TokenCounter } from './tokenCounter';
import type { EngineSettings, StatusParams } from './protocol';

export type EngineState = StatusParams['engine'];

export class EngineConnection {
  private attached: EngineClient | undefined;
  private local: LocalEngine | undefined;
  private readonly pending = new Set<AbortController>();
  private settingsKey = '';
  /** One counter per engine client: counts belong to that engine's tokenizer. */
  private readonly counters = new WeakMap<EngineClient, TokenCounter>();

  constructor(
    private readonly onState: (state: EngineState, message?: string) => void,
    private readonly log: (message: string) => void = () => undefined,
  ) {}

  /** Token counts by `client`'s tokenizer (exact once it has answered /tokenize; see tokenCounter.ts). */
  async tokenCounter(client: EngineClient, signal?: AbortSignal): Promise<TokenCounter> {
    let counter = this.counters.get(client);
    if (!counter) {
      counter = new TokenCounter(client, this.log);
      this.counters.set(client, counter);
    }
    await counter.ready(signal);
    return counter;
  }

  /** Applies engine settings (at start and on every configuration change); unchanged settings do nothing. */
  configure(settings: EngineSettings | undefined): void {
    const key = JSON.stringify(settings ?? null);
    if (key === this.settingsKey) return;
    this.settingsKey = key;
    this.failPending(new EngineError('stopped', 'the engine settings changed'));
    this.local?.dispose();
    this.local = undefined;
    this.attached = undefined;
    if (!settings) {
      this.onState('stopped', 'no engine configured');
    } else if ('url' in settings && settings.url) {
      try {
        this.attached = new EngineClient({ url: settings.url, apiKey: settings.apiKey, model: settings.model, fim: settings.fim });
        this.onState('ready', `attached to ${this.attached.baseUrl}`);
      } catch (e) {
        this.onState('error', `engine url ${JSON.stringify(settings.url)} is not a URL: ${(e as Error).message}`);
      }
    } else {
      // No model folder: the embedded default model (shipped in the .vsix, models/ in a checkout).
      const model = ('model' in settings && settings.model) || defaultModelDir();
      this.local = new LocalEngine(model, 'backend' in settings ? settings.backend : undefined, {
        state: (state, message) => this.onState(state, message),
        lost: (reason) => this.failPending(new EngineError('stopped', reason)),
      }, 'reusePolicy' in settings ? settings.reusePolicy : undefined);
      // Start (or find) the engine now so the first completion does not wait for the model to load.
      this.local.ready().catch((e: Error) => this.onState('error', e.message));
    }
  }

  /**
   * Runs `work` against the engine with a signal that aborts when `cancel` fires, when the engine goes away
   * or when the settings change.
   */
  async run<T>(work: (client: EngineClient, signal: AbortSignal) => Promise<T>, cancel?: AbortSignal): Promise<T> {
    const controller = new AbortController();
    const onCancel = () => controller.abort(new EngineError('cancelled', 'request cancelled'));
    if (cancel?.aborted) onCancel();
    cancel?.addEventListener('abort', onCancel);
    this.pending.add(controller);
    try {
      const client = await this.client();
      if (controller.signal.aborted) throw controller.signal.reason;
      return await work(client, controller.signal);
    } catch (e) {
      if (e instanceof EngineError && e.kind === 'unavailable') {
        this.local?.connectionLost(e.message);
        if (this.attached) this.onState('error', e.message);
      }
      throw e;
    } finally {
      cancel?.removeEventListener('abort', onCancel);
      this.pending.delete(controller);
    }
  }

  dispose(): void {
    this.failPending(new EngineError('stopped', 'the server is shutting down'));
    this.local?.dispose();
  }

  private async client(): Promise<EngineClient> {
    if (this.attached) return this.attached;
    if (this.local) {
      try {
        return await this.local.ready();
      } catch (e) {
        throw new EngineError('unavailable', (e as Error).message);
      }
    }
    throw new EngineError('unavailable', 'no engine is configured (set latent.engine to a url or a model folder)');
  }

  private failPending(reason: EngineError): void {
    for (const controller of this.pending) controller.abort(reason);
    this.pending.clear();
  }
}
