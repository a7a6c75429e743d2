// Validation of /v1/completions and /v1/chat/completions bodies. Every field is checked; the first bad one gets a
// 400 whose `param` names it. Fields OpenAI defines that this engine does not implement are accepted only at
// their neutral value, so that a client never silently gets something other than what it asked for.
import { HttpError, invalidField } from './httpError';

export interface SamplingFields {
  model?: string;
  /** undefined: as many as the limit and the context allow (chat), or OpenAI's 16 (completions). */
  maxTokens?: number;
  temperature: number;
  topP: number;
  topK: number;
  seed?: number;
  stop: string[];
  n: number;
  stream: boolean;
  includeUsage: boolean;
  /** Scheduling priority, lower first (vLLM's field); undefined: by kind of request. */
  priority?: number;
}

export interface CompletionBody extends SamplingFields {
  kind: 'completion';
  prompt: string | number[];
  /** Present: fill-in-the-middle between prompt and suffix. */
  suffix?: string;
}

export interface ChatMessage {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string;
  name?: string;
}

export interface ChatBody extends SamplingFields {
  kind: 'chat';
  messages: ChatMessage[];
}

export interface ValidationLimits {
  maxTokensLimit: number;
  maxChoices: number;
}

type Json = Record<string, unknown>;

const SAMPLING_KEYS = ['model', 'max_tokens', 'temperature', 'top_p', 'top_k', 'seed', 'stop', 'n', 'stream',
  'stream_options', 'priority', 'user'];

/** OpenAI fields accepted only at their neutral value. */
const NEUTRAL_VALUES: Record<string, (v: unknown) => boolean> = {
  frequency_penalty: (v) => v === 0,
  presence_penalty: (v) => v === 0,
  logit_bias: (v) => isObject(v) && Object.keys(v).length === 0,
  logprobs: (v) => v === false || v === 0,
  top_logprobs: (v) => v === 0,
  echo: (v) => v === false,
  best_of: (v) => v === 1,
  response_format: (v) => isObject(v) && v.type === 'text',
  tools: (v) => Array.isArray(v) && v.length === 0,
  tool_choice: (v) => v === 'none',
  parallel_tool_calls: (v) => typeof v === 'boolean',
  store: (v) => v === false,
  metadata: (v) => isObject(v),
};

export function validateCompletionBody(raw: unknown, limits: ValidationLimits): CompletionBody {
  const body = requireObject(raw);
  checkKeys(body, [...SAMPLING_KEYS, 'prompt', 'suffix'], ['frequency_penalty', 'presence_penalty', 'logit_bias',
    'logprobs', 'echo', 'best_of']);
  return {
    kind: 'completion',
    ...samplingFields(body, limits, 'max_tokens'),
    prompt: promptField(body.prompt),
    suffix: optional(body, 'suffix', (v) => (typeof v === 'string' ? v : undefined), 'a string'),
  };
}

export function validateChatBody(raw: unknown, limits: ValidationLimits): ChatBody {
  const body = requireObject(raw);
  checkKeys(body, [...SAMPLING_KEYS, 'messages', 'max_completion_tokens'], ['frequency_penalty', 'presence_penalty',
    'logit_bias', 'logprobs', 'top_logprobs', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls',
    'store', 'metadata']);
  const fields = samplingFields(body, limits, 'max_tokens');
  const maxCompletion = optional(body, 'max_completion_tokens', (v) => maxTokensValue(v, limits), maxTokensWords(limits));
  return {
    kind: 'chat',
    ...fields,
    maxTokens: maxCompletion ?? fields.maxTokens,
    messages: messagesField(body.messages),
  };
}

function samplingFields(body: Json, limits: ValidationLimits, maxTokensKey: string): SamplingFields {
  const streamOptions = optional(body, 'stream_options', (v) => (isObject(v) ? v : undefined), 'an object');
  let includeUsage = false;
  if (streamOptions) {
    for (const key of Object.keys(streamOptions)) {
      if (key !== 'include_usage') throw invalidField(`stream_options.${key}`, `Unrecognized field stream_options.${key}`);
    }
    const v = streamOptions.include_usage;
    if (v !== undefined && v !== null && typeof v !== 'boolean') {
      throw invalidField('stream_options.include_usage', 'stream_options.include_usage must be a boolean');
    }
    includeUsage = v === true;
  }
  optional(body, 'user', (v) => (typeof v === 'string' ? v : undefined), 'a string');
  return {
    model: optional(body, 'model', (v) => (typeof v === 'string' ? v : undefined), 'a string'),
    maxTokens: optional(body, maxTokensKey, (v) => maxTokensValue(v, limits), maxTokensWords(limits)),
    temperature: optional(body, 'temperature', (v) => numberIn(v, 0, 2), 'a number between 0 and 2') ?? 1,
    topP: optional(body, 'top_p', (v) => numberIn(v, 0, 1), 'a number between 0 and 1') ?? 1,
    topK: optional(body, 'top_k', (v) => (isInt(v) && v >= -1 ? Math.max(v, 0) : undefined),
      'an integer >= -1 (-1 or 0: off)') ?? 0,
    seed: optional(body, 'seed', (v) => (isInt(v) ? v : undefined), 'an integer'),
    stop: optional(body, 'stop', stopValue, 'a string or an array of at most 4 non-empty strings') ?? [],
    n: optional(body, 'n', (v) => (isInt(v) && v >= 1 && v <= limits.maxChoices ? v : undefined),
      `an integer between 1 and ${limits.maxChoices}`) ?? 1,
    stream: optional(body, 'stream', (v) => (typeof v === 'boolean' ? v : undefined), 'a boolean') ?? false,
    includeUsage,
    priority: optional(body, 'priority', (v) => (isInt(v) ? v : undefined), 'an integer'),
  };
}

function promptField(v: unknown): string | number[] {
  if (v === undefined || v === null) throw invalidField('prompt', "Missing required field 'prompt'");
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.length === 1 && typeof v[0] === 'string') return v[0];
    if (v.length > 0 && v.every((t) => isInt(t) && t >= 0)) return v as number[];
    if (v.length > 1 && v.every((t) => typeof t === 'string')) {
      throw invalidField('prompt', 'Only one prompt per request is supported; send one request per prompt');
    }
  }
  throw invalidField('prompt', "'prompt' must be a string or a non-empty array of token ids");
}

export function messagesField(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw invalidField('messages', "'messages' must be a non-empty array of messages");
  }
  return v.map((m, i) => {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw invalidField(at, `${at} must be an object`);
    for (const key of Object.keys(m)) {
      if (!['role', 'content', 'name'].includes(key)) throw invalidField(`${at}.${key}`, `Unrecognized field ${at}.${key}`);
    }
    const role = m.role;
    if (role !== 'system' && role !== 'developer' && role !== 'user' && role !== 'assistant') {
      throw invalidField(`${at}.role`, `${at}.role must be one of 'system', 'developer', 'user', 'assistant'`);
    }
    if (m.name !== undefined && typeof m.name !== 'string') throw invalidField(`${at}.name`, `${at}.name must be a string`);
    return { role, content: messageContent(m.content, `${at}.content`), ...(m.name ? { name: m.name as string } : {}) };
  });
}

/** A string, or OpenAI's array of text parts (other part types need a model that sees them). */
function messageContent(v: unknown, at: string): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    return v.map((part, j) => {
      if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
        throw invalidField(`${at}[${j}]`, `${at}[${j}] must be {"type": "text", "text": string}`);
      }
      return part.text;
    }).join('');
  }
  throw invalidField(at, `${at} must be a string or an array of text parts`);
}

function requireObject(raw: unknown): Json {
  if (!isObject(raw)) throw new HttpError(400, 'The request body must be a JSON object', 'invalid_request_error');
  return raw;
}

function checkKeys(body: Json, known: string[], neutral: string[]): void {
  for (const [key, value] of Object.entries(body)) {
    if (known.includes(key)) continue;
    if (neutral.includes(key)) {
      if (value === null || NEUTRAL_VALUES[key](value)) continue;
      throw invalidField(key, `'${key}' is not supported by this server (only its default value is accepted)`);
    }
    throw invalidField(key, `Unrecognized request argument supplied: ${key}`);
  }
}

/** Reads an optional field: absent or null gives undefined; a value `parse` rejects gives a 400 naming the field. */
function optional<T>(body: Json, key: string, parse: (v: unknown) => T | undefined, expected: string): T | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  const parsed = parse(v);
  if (parsed === undefined) throw invalidField(key, `'${key}' must be ${expected}, got ${preview(v)}`);
  return parsed;
}

/** A bad value as the 400 quotes it: never more than a line, however large the value. */
function preview(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length <= 80 ? text : `${text.slice(0, 80)}… (${text.length} characters)`;
}

function maxTokensValue(v: unknown, limits: ValidationLimits): number | undefined {
  return isInt(v) && v >= 1 && v <= limits.maxTokensLimit ? v : undefined;
}

function maxTokensWords(limits: ValidationLimits): string {
  return `an integer between 1 and ${limits.maxTokensLimit}`;
}

function stopValue(v: unknown): string[] | undefined {
  if (typeof v === 'string') return v.length > 0 ? [v] : undefined;
  if (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string' && s.length > 0)) return v as string[];
  return undefined;
}

function numberIn(v: unknown, min: number, max: number): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : undefined;
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
