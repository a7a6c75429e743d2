// POST /v1/completions and POST /v1/chat/completions: validate, build the prompt tokens, hand to the scheduler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { chatTemplateMissing } from './chatTemplate';
import { fimPromptTokens } from './fimTokens';
import { handleGeneration } from './generationHandler';
import { HttpError, invalidField } from './httpError';
import { readJsonBody } from './jsonBody';
import { validateChatBody, validateCompletionBody, type SamplingFields } from './requestValidation';
import { PRIORITY, type Scheduler } from './scheduler';
import type { ServedModel } from './servedModel';
import type { ServeMetrics } from './serveMetrics';
import type { ServeOptions } from './serveOptions';
import { TextTooLong } from './tokenizerPool';

/** OpenAI's default for /v1/completions. */
const DEFAULT_COMPLETION_TOKENS = 16;

export interface GenerationContext {
  model: ServedModel;
  scheduler: Scheduler;
  metrics: ServeMetrics;
  options: ServeOptions;
}

export async function completionsRoute(req: IncomingMessage, res: ServerResponse, ctx: GenerationContext): Promise<void> {
  const arrivedAt = performance.now();
  const body = validateCompletionBody(await readJsonBody(req, ctx.options.maxBodyBytes), ctx.options);
  checkModel(body, ctx.model);
  const { model } = ctx;
  const bos = model.bosId === undefined ? [] : [model.bosId];
  let prompt: number[];
  if (typeof body.prompt !== 'string') {
    const bad = body.prompt.findIndex((t) => t >= model.vocabSize);
    if (bad >= 0) throw invalidField('prompt', `prompt[${bad}] = ${body.prompt[bad]} is not a token id of this model`);
    if (body.suffix !== undefined) throw invalidField('suffix', "'suffix' needs 'prompt' as text, not token ids");
    prompt = body.prompt;
  } else if (body.suffix !== undefined) {
    if (!model.fim) {
      throw new HttpError(400, "This model's tokenizer has no fill-in-the-middle tokens, so 'suffix' cannot be used",
        'invalid_request_error', 'suffix', 'fim_unsupported');
    }
    const [prefix, suffix] = await Promise.all([encodePrompt(model, body.prompt, 'prompt'),
      encodePrompt(model, body.suffix, 'suffix')]);
    prompt = fimPromptTokens(model.fim, model.bosId, prefix, suffix);
  } else {
    prompt = [...bos, ...(await encodePrompt(model, body.prompt, 'prompt'))];
  }
  const priority = body.priority ?? (body.suffix !== undefined ? PRIORITY.inline : PRIORITY.completion);
  const maxTokens = fitToContext(body, prompt.length, body.maxTokens ?? DEFAULT_COMPLETION_TOKENS, model, 'prompt');
  await handleGeneration(res, {
    kind: 'completion', route: '/v1/completions', modelId: model.id, prompt, maxTokens, priority, fields: body,
    // A text prompt (a FIM prompt's prefix) may end mid-token: at a cursor inside a word, after a bare newline.
    tokenHealing: typeof body.prompt === 'string',
    arrivedAt,
  }, ctx.scheduler, ctx.metrics);
}

export async function chatCompletionsRoute(req: IncomingMessage, res: ServerResponse, ctx: GenerationContext): Promise<void> {
  const arrivedAt = performance.now();
  const body = validateChatBody(await readJsonBody(req, ctx.options.maxBodyBytes), ctx.options);
  checkModel(body, ctx.model);
  const { model } = ctx;
  if (!model.chatTemplate) throw chatTemplateMissing(model.modelDir);
  const prompt = await encodePrompt(model, model.chatTemplate.render(body.messages), 'messages');
  const room = Math.min(ctx.options.maxTokensLimit, model.contextLength - prompt.length);
  const maxTokens = fitToContext(body, prompt.length, body.maxTokens ?? Math.max(1, room), model, 'messages');
  await handleGeneration(res, {
    kind: 'chat', route: '/v1/chat/completions', modelId: model.id, prompt, maxTokens,
    priority: body.priority ?? PRIORITY.chat, fields: body, tokenHealing: false, arrivedAt,
  }, ctx.scheduler, ctx.metrics);
}

/** Prompt text -> tokens; text that cannot fit the context is a 400 naming `field`, found without encoding it all. */
async function encodePrompt(model: ServedModel, text: string, field: string): Promise<number[]> {
  try {
    return await model.encode(text, model.contextLength);
  } catch (e) {
    if (!(e instanceof TextTooLong)) throw e;
    throw invalidField(field, `The ${field} is at least ${e.tokensAtLeast} tokens; this model's context holds ` +
      `${model.contextLength}`);
  }
}

function checkModel(body: SamplingFields, model: ServedModel): void {
  if (body.model !== undefined && body.model !== model.id) {
    throw new HttpError(404, `The model '${body.model}' does not exist; this server serves '${model.id}'`,
      'invalid_request_error', 'model', 'model_not_found');
  }
}

function fitToContext(body: SamplingFields, promptLength: number, maxTokens: number, model: ServedModel,
  promptField: string): number {
  if (promptLength >= model.contextLength) {
    throw invalidField(promptField, `The prompt is ${promptLength} tokens; this model's context holds ` +
      `${model.contextLength}`);
  }
  if (promptLength + maxTokens > model.contextLength) {
    const field = body.maxTokens === undefined ? promptField : 'max_tokens';
    throw invalidField(field, `The prompt (${promptLength} tokens) plus max_tokens (${maxTokens}) exceed this ` +
      `model's context of ${model.contextLength} tokens`);
  }
  return maxTokens;
}
