// Talks to one OpenAI-compatible engine over HTTP with undici: our `latent serve`, vLLM, SGLang or the
// DeepSeek API. Inline completions use /v1/completions with `suffix` (the engine renders the FIM tokens from the
// model's tokenizer) or, for servers that take no suffix, a prompt with DeepSeek's FIM tokens already in it.
import { Agent, request, type Dispatcher } from 'undici';
import { EngineError } from './engineErrors';
import { readServerSentEvents } from './serverSentEvents';
import { renderFimPrompt, type FimPrompt, type InfillPrompt } from './fimPrompt';
import type { ChatMessage } from './protocol';

export interface EngineEndpoint {
  /** Base URL; `/v1` is added when it has no path. */
  url: string;
  apiKey?: string;
  /** Model name sent in requests; asked from /v1/models when not given. */
  model?: string;
  /** 'suffix': send prefix and suffix separately; 'prompt': send one prompt with the FIM tokens in it. */
  fim?: 'suffix' | 'prompt';
}

export interface CompletionOptions {
  maxTokens: number;
  temperature: number;
  stop?: string[];
  /** Alternatives wanted (the engine's `n`). */
  n?: number;
  signal?: AbortSignal;
  /** Called just before the HTTP request leaves (for latency accounting). */
  onSend?: () => void;
}

/** An entry of GET /models: vLLM's and our engine's `max_model_len`, our engine's `infill_prompt`. */
interface ListedModel { id?: string; max_model_len?: number; infill_prompt?: unknown }

export interface CompletionChoice { text: string; finishReason: string }
export interface EngineUsage { promptTokens: number; completionTokens: number; cachedTokens: number }
export interface CompletionAnswer { choices: CompletionChoice[]; usage?: EngineUsage }

export interface ChatOptions {
  maxTokens: number;
  temperature: number;
  signal?: AbortSignal;
  onDelta: (text: string) => void;
}
export interface ChatAnswer { text: string; finishReason: string; usage?: EngineUsage }

export class EngineClient {
  readonly baseUrl: string;
  private fimMode: 'suffix' | 'prompt';
  private modelName: Promise<string> | undefined;

  constructor(private readonly endpoint: EngineEndpoint, private readonly dispatcher: Dispatcher = sharedAgent()) {
    const url = new URL(endpoint.url);
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/v1';
    this.baseUrl = url.toString().replace(/\/$/, '');
    this.fimMode = endpoint.fim ?? 'suffix';
    if (endpoint.model) this.modelName = Promise.resolve(endpoint.model);
  }

  /** A fill-in-the-middle completion of `prompt`. */
  async complete(prompt: FimPrompt, options: CompletionOptions): Promise<CompletionAnswer> {
    const model = await this.model(options.signal);
    const body: Record<string, unknown> = { model, max_tokens: options.maxTokens, temperature: options.temperature };
    if (options.stop?.length) body.stop = options.stop;
    if ((options.n ?? 1) > 1) body.n = options.n;
    if (prompt.infill === 'prefix') {
      body.prompt = prompt.context + prompt.prefix;
    } else if (this.fimMode === 'suffix') {
      body.prompt = prompt.context + prompt.prefix;
      body.suffix = prompt.suffix;
    } else {
      body.prompt = renderFimPrompt(prompt);
    }
    try {
      options.onSend?.();
      const json = await this.postJson('/completions', body, options.signal) as CompletionResponse;
      return {
        choices: (json.choices ?? []).map((c) => ({ text: String(c.text ?? ''), finishReason: String(c.finish_reason ?? 'stop') })),
        usage: usageOf(json.usage),
      };
    } catch (e) {
      // A server that takes no `suffix` says so with a 400 naming it: fall back to a rendered FIM prompt.
      if (prompt.infill === 'fim' && this.fimMode === 'suffix' && e instanceof EngineError && e.status === 400 && /suffix/i.test(e.message)) {
        this.fimMode = 'prompt';
        return this.complete(prompt, options);
      }
      throw e;
    }
  }

  /** A streamed chat answer; each new piece of text goes to `onDelta` as it arrives. */
  async chat(messages: ChatMessage[], options: ChatOptions): Promise<ChatAnswer> {
    const model = await this.model(options.signal);
    const body = { model, messages, max_tokens: options.maxTokens, temperature: options.temperature, stream: true };
    const response = await this.send('POST', '/chat/completions', body, options.signal);
    let text = '';
    let finishReason = 'stop';
    let usage: EngineUsage | undefined;
    try {
      for await (const event of readServerSentEvents(response.body)) {
        const chunk = event as ChatChunk;
        // An engine that fails after the stream started says so in an event (OpenAI's error object).
        if (chunk.error !== undefined) {
          throw new EngineError('http', `${this.baseUrl}/chat/completions failed while answering: ${errorMessage(JSON.stringify(chunk))}`);
        }
        const choice = chunk.choices?.[0];
        const delta = choice?.delta?.content ?? '';
        if (delta) {
          text += delta;
          options.onDelta(delta);
        }
        if (choice?.finish_reason) finishReason = choice.finish_reason;
        usage = usageOf(chunk.usage) ?? usage;
      }
    } catch (e) {
      throw translateError(e, this.baseUrl);
    }
    return { text, finishReason, usage };
  }

  /**
   * The model's name, context length and infill layout, asked of the engine the first time (before any budget is
   * fitted). The layout is `latent serve`'s `infill_prompt`; other engines say none, and get FIM.
   */
  async modelInfo(signal?: AbortSignal): Promise<{ id: string; contextLength?: number; infillPrompt: InfillPrompt }> {
    const id = await this.model(signal);
    // A model named in the settings was not looked up: ask /models once for its length (vLLM and ours say it)
    // and its infill layout (ours says it).
    if (!this.askedModels) {
      this.askedModels = true;
      try {
        const listed = (await this.getJson('/models', signal) as { data?: ListedModel[] }).data;
        this.learn(listed?.find((m) => m.id === id) ?? (listed?.length === 1 ? listed[0] : undefined));
      } catch (e) {
        if (signal?.aborted) throw e;
        // An engine without /models: the context stays unknown (no clamp), as before.
      }
    }
    return { id, contextLength: this.contextLength, infillPrompt: this.infillPrompt };
  }

  private askedModels = false;
  private infillPrompt: InfillPrompt = 'fim';

  /**
   * The engine's token ids of `text` (bos added only with `addSpecial`), from vLLM's and `latent serve`'s POST /tokenize;
   * undefined when the engine has no such route.
   */
  async tokenize(text: string, signal?: AbortSignal, addSpecial = false): Promise<number[] | undefined> {
    const json = await this.postTokenize({ prompt: text, add_special_tokens: addSpecial }, signal);
    return json?.tokens;
  }

  /** Tokens of the chat prompt the engine would render for `messages`, or undefined when it cannot tell. */
  async countChatTokens(messages: ChatMessage[], signal?: AbortSignal): Promise<number | undefined> {
    return (await this.postTokenize({ messages }, signal))?.tokens.length;
  }

  private async postTokenize(body: Record<string, unknown>, signal?: AbortSignal): Promise<{ tokens: number[] } | undefined> {
    if (this.noTokenize) return undefined;
    const model = await this.model(signal);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${new URL(this.baseUrl).origin}/tokenize`, {
        method: 'POST', headers: this.headers(true), body: JSON.stringify({ model, ...body }), signal, dispatcher: this.dispatcher,
      });
    } catch (e) {
      throw translateError(e, this.baseUrl);
    }
    const text = await res.body.text();
    // Servers without the route answer 404 or 405; any other refusal is this request's (e.g. too long).
    if (res.statusCode === 404 || res.statusCode === 405) {
      this.noTokenize = true;
      return undefined;
    }
    if (res.statusCode >= 300) throw new EngineError('http', `POST /tokenize answered ${res.statusCode}: ${errorMessage(text)}`, res.statusCode);
    let json: { tokens?: unknown; max_model_len?: unknown };
    try { json = JSON.parse(text); } catch { json = {}; }
    if (!Array.isArray(json.tokens) || !json.tokens.every((t) => Number.isInteger(t))) {
      throw new EngineError('bad-response', `POST /tokenize answered no token ids: ${text.slice(0, 200)}`);
    }
    if (this.contextLength === undefined && typeof json.max_model_len === 'number') this.contextLength = json.max_model_len;
    return { tokens: json.tokens as number[] };
  }

  private noTokenize = false;

  /** What GET /health answers (our engine says which model it serves), or undefined when it does not answer. */
  async health(signal?: AbortSignal): Promise<{ model?: string } | undefined> {
    try {
      const res = await request(`${new URL(this.baseUrl).origin}/health`, { method: 'GET', headers: this.headers(), signal, dispatcher: this.dispatcher });
      const text = await res.body.text();
      if (res.statusCode >= 300) return undefined;
      try { return JSON.parse(text) as { model?: string }; } catch { return {}; }
    } catch {
      return undefined;
    }
  }

  /** True when the engine answers GET /health (or, for servers without it, /models) with 2xx. */
  async healthy(signal?: AbortSignal): Promise<boolean> {
    for (const path of ['/health', '/models']) {
      const url = path === '/health' ? `${new URL(this.baseUrl).origin}/health` : `${this.baseUrl}${path}`;
      try {
        const res = await request(url, { method: 'GET', headers: this.headers(), signal, dispatcher: this.dispatcher });
        await res.body.dump();
        if (res.statusCode < 300) return true;
      } catch {
        return false;
      }
    }
    return false;
  }

  /** The model's context length in tokens, once /models has told it (vLLM and our engine say `max_model_len`). */
  contextLength: number | undefined;

  private model(signal?: AbortSignal): Promise<string> {
    this.modelName ??= this.getJson('/models', signal).then((json) => {
      this.askedModels = true;
      const first = (json as { data?: ListedModel[] }).data?.[0];
      if (!first?.id) throw new EngineError('bad-response', `${this.baseUrl}/models lists no model`);
      this.learn(first);
      return first.id;
    });
    this.modelName.catch(() => { this.modelName = undefined; });
    return this.modelName;
  }

  /** What a /models entry tells of its model. */
  private learn(entry: ListedModel | undefined): void {
    if (typeof entry?.max_model_len === 'number') this.contextLength = entry.max_model_len;
    this.infillPrompt = entry?.infill_prompt === 'prefix' ? 'prefix' : 'fim';
  }

  private async getJson(path: string, signal?: AbortSignal): Promise<unknown> {
    const res = await this.send('GET', path, undefined, signal);
    return readJson(res, this.baseUrl + path);
  }

  private async postJson(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const res = await this.send('POST', path, body, signal);
    return readJson(res, this.baseUrl + path);
  }

  private async send(method: 'GET' | 'POST', path: string, body: unknown, signal?: AbortSignal): Promise<Dispatcher.ResponseData> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.baseUrl + path, {
        method,
        headers: this.headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        dispatcher: this.dispatcher,
      });
    } catch (e) {
      throw translateError(e, this.baseUrl);
    }
    if (res.statusCode >= 400) {
      const detail = await res.body.text().catch(() => '');
      throw new EngineError('http', `${method} ${this.baseUrl}${path} answered ${res.statusCode}: ${errorMessage(detail)}`, res.statusCode);
    }
    return res;
  }

  private headers(json = false): Record<string, string> {
    const headers: Record<string, string> = {};
    if (json) headers['content-type'] = 'application/json';
    if (this.endpoint.apiKey) headers.authorization = `Bearer ${this.endpoint.apiKey}`;
    return headers;
  }
}

interface CompletionResponse {
  choices?: { text?: string; finish_reason?: string }[];
  usage?: RawUsage;
}
interface ChatChunk {
  error?: unknown;
  choices?: { delta?: { content?: string }; finish_reason?: string | null }[];
  usage?: RawUsage;
}
interface RawUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}

function usageOf(raw: RawUsage | undefined | null): EngineUsage | undefined {
  if (!raw || typeof raw.prompt_tokens !== 'number') return undefined;
  return {
    promptTokens: raw.prompt_tokens,
    completionTokens: raw.completion_tokens ?? 0,
    cachedTokens: raw.prompt_tokens_details?.cached_tokens ?? 0,
  };
}

async function readJson(res: Dispatcher.ResponseData, where: string): Promise<unknown> {
  const text = await res.body.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new EngineError('bad-response', `${where} answered something that is not JSON: ${text.slice(0, 200)}`);
  }
}

function errorMessage(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } | string };
    const message = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (message) return message;
  } catch { /* not JSON: show the text */ }
  return body.slice(0, 300);
}

function translateError(e: unknown, baseUrl: string): EngineError {
  if (e instanceof EngineError) return e;
  const err = e as Error & { code?: string };
  if (err?.name === 'AbortError' || err?.code === 'UND_ERR_ABORTED') {
    const reason = (err as { cause?: unknown }).cause;
    if (reason instanceof EngineError) return reason;
    return new EngineError('cancelled', 'request cancelled');
  }
  return new EngineError('unavailable', `engine at ${baseUrl} is unreachable: ${err?.code ?? ''} ${err?.message ?? String(e)}`.trim());
}

let agent: Agent | undefined;
function sharedAgent(): Agent {
  agent ??= new Agent({ keepAliveTimeout: 30_000, connect: { timeout: 5_000 }, headersTimeout: 600_000, bodyTimeout: 600_000 });
  return agent;
}
