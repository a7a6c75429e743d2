// One generation request from admission to its last byte: queue for a place in the batch, generate each of its
// `n` choices, answer whole or as a stream, and stop the work as soon as the client goes away.
import type { ServerResponse } from 'node:http';
import type { GenerationResult } from '../api';
import { HttpError, invalidField, sendJson } from './httpError';
import { AnswerShape, type Kind, usageOf } from './openaiShapes';
import type { SamplingFields } from './requestValidation';
import type { Scheduler } from './scheduler';
import type { ServeMetrics } from './serveMetrics';
import { SseStream } from './sseStream';

export interface GenerationJob {
  kind: Kind;
  route: string;
  modelId: string;
  prompt: number[];
  maxTokens: number;
  priority: number;
  fields: SamplingFields;
  /** Heal the prompt's last token (text prompts: see GenerationRequest.tokenHealing). */
  tokenHealing: boolean;
  /** When the request arrived, for time-to-first-token. */
  arrivedAt: number;
}

export async function handleGeneration(
  res: ServerResponse, job: GenerationJob, scheduler: Scheduler, metrics: ServeMetrics,
): Promise<void> {
  const { fields } = job;
  try {
    scheduler.admit(fields.n);
  } catch (e) {
    metrics.countRejected((e as HttpError).code === 'shutting_down' ? 'shutting_down' : 'queue_full');
    throw e;
  }

  // The client closing its connection before the answer ends is a cancel.
  const abort = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) abort.abort(new Error('client disconnected'));
  };
  res.on('close', onClose);

  const shape = new AnswerShape(job.kind, job.modelId);
  const stream = fields.stream ? new SseStream(res) : undefined;
  let firstTokenSeen = false;
  const noteToken = (): void => {
    if (!firstTokenSeen) {
      firstTokenSeen = true;
      metrics.observeFirstToken(job.route, (performance.now() - job.arrivedAt) / 1000);
    }
  };

  if (stream) {
    stream.open();
    if (job.kind === 'chat') for (let i = 0; i < fields.n; i++) stream.send(shape.roleChunk(i));
  }

  const choices = Array.from({ length: fields.n }, async (_, index): Promise<GenerationResult> => {
    const result = await scheduler.generate({
      prompt: job.prompt,
      maxTokens: job.maxTokens,
      sampling: {
        temperature: fields.temperature,
        topP: fields.topP,
        topK: fields.topK,
        // Choices of one request differ; the same seed still repeats the same answer.
        seed: fields.seed === undefined ? undefined : fields.seed + index,
      },
      stop: fields.stop,
      signal: abort.signal,
      tokenHealing: job.tokenHealing,
    }, job.priority, (delta) => {
      // A delta without a token is text the engine held back (a possible stop string) released at the end.
      if (delta.token !== null) noteToken();
      // The engine never releases text of a stop string, so deltas can go out as they come.
      if (stream && delta.text) stream.send(shape.textChunk(index, delta.text));
    });
    if (stream && result.finishReason !== 'cancelled' && result.finishReason !== 'error') {
      stream.send(shape.finishChunk(index, result.finishReason));
    }
    return result;
  });

  let results: GenerationResult[];
  try {
    results = await Promise.all(choices);
  } catch (e) {
    const clientGone = abort.signal.aborted;
    // One choice failed: stop its siblings too.
    abort.abort(e);
    await Promise.allSettled(choices);
    if (clientGone) {
      metrics.countCancelled();
      return;
    }
    // The engine refuses prompts it cannot take (e.g. empty) with RangeError: the request's fault.
    if (e instanceof RangeError) throw invalidField('prompt', e.message);
    throw e;
  } finally {
    res.off('close', onClose);
  }

  const failed = results.find((r) => r.finishReason === 'error');
  if (failed) {
    // The engine could not go on (its latent pool is full of running requests): busy, come back shortly.
    throw new HttpError(503, `The engine could not finish this request: ${failed.error ?? 'unknown error'}`,
      'server_error', null, 'engine_busy', { 'Retry-After': '1' });
  }
  const completionTokens = results.reduce((sum, r) => sum + r.tokens.length, 0);
  const cachedTokens = results[0].cachedTokens;
  metrics.countGeneration(results[0].promptTokens, cachedTokens, completionTokens);
  if (results.some((r) => r.finishReason === 'cancelled')) metrics.countCancelled();
  if (res.destroyed) return;

  const usage = usageOf(results[0].promptTokens, cachedTokens, completionTokens);
  if (stream) {
    if (fields.includeUsage) stream.send(shape.usageChunk(usage));
    stream.close();
  } else {
    sendJson(res, 200, shape.whole(results.map((r) => ({ text: r.text, finishReason: r.finishReason })), usage));
  }
  metrics.observeLatency(job.route, (performance.now() - job.arrivedAt) / 1000);
}
