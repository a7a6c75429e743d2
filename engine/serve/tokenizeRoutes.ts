// POST /tokenize and POST /detokenize, in the request and answer shapes of vLLM's and llama.cpp's servers, so a
// client counts tokens exactly as this engine will (the language server fits its prompts with them). Text goes
// through the model's one encode/decode, the same the generation routes use.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GenerationContext } from './generationRoutes';
import { chatTemplateMissing } from './chatTemplate';
import { HttpError, invalidField, sendJson } from './httpError';
import { readJsonBody } from './jsonBody';
import { messagesField } from './requestValidation';

type Json = Record<string, unknown>;

/**
 * Text (vLLM `prompt`, llama.cpp `content`) or a chat (vLLM `messages`, rendered by the model's template as
 * /v1/chat/completions renders it). Answers vLLM's `{count, max_model_len, tokens}`, which llama.cpp clients
 * read too (`tokens`).
 */
export async function tokenizeRoute(req: IncomingMessage, res: ServerResponse, ctx: GenerationContext): Promise<void> {
  const body = jsonObject(await readJsonBody(req, ctx.options.maxBodyBytes));
  const { model } = ctx;
  checkModelName(body, model.id);
  let tokens: number[];
  if (body.messages !== undefined) {
    if (!model.chatTemplate) throw chatTemplateMissing(model.modelDir);
    // The chat template writes bos and the role markers itself.
    tokens = await model.encode(model.chatTemplate.render(messagesField(body.messages)));
  } else {
    const text = body.prompt ?? body.content;
    if (typeof text !== 'string') throw invalidField('prompt', "'prompt' (or 'content') must be a string, or send 'messages'");
    // vLLM adds special tokens unless told not to; llama.cpp only when asked (`add_special`).
    const addSpecial = flag(body, 'add_special_tokens') ?? flag(body, 'add_special') ?? body.prompt !== undefined;
    tokens = await model.encode(text);
    if (addSpecial && model.bosId !== undefined) tokens = [model.bosId, ...tokens];
  }
  sendJson(res, 200, { count: tokens.length, max_model_len: model.contextLength, tokens });
}

/** Token ids back to text: answers `{prompt}` (vLLM) and `{content}` (llama.cpp), special tokens written out. */
export async function detokenizeRoute(req: IncomingMessage, res: ServerResponse, ctx: GenerationContext): Promise<void> {
  const body = jsonObject(await readJsonBody(req, ctx.options.maxBodyBytes));
  checkModelName(body, ctx.model.id);
  const { tokens } = body;
  if (!Array.isArray(tokens)) throw invalidField('tokens', "'tokens' must be an array of token ids");
  const bad = tokens.findIndex((t) => !Number.isSafeInteger(t) || (t as number) < 0 || (t as number) >= ctx.model.vocabSize);
  if (bad >= 0) throw invalidField('tokens', `tokens[${bad}] = ${JSON.stringify(tokens[bad])} is not a token id of this model`);
  const text = await ctx.model.decode(tokens as number[], { skipSpecial: false });
  sendJson(res, 200, { prompt: text, content: text });
}

function jsonObject(raw: unknown): Json {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HttpError(400, 'The request body must be a JSON object', 'invalid_request_error');
  }
  return raw as Json;
}

function flag(body: Json, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalidField(key, `'${key}' must be a boolean`);
  return v;
}

function checkModelName(body: Json, served: string): void {
  if (body.model !== undefined && body.model !== null && body.model !== served) {
    throw new HttpError(404, `The model '${String(body.model)}' does not exist; this server serves '${served}'`,
      'invalid_request_error', 'model', 'model_not_found');
  }
}
