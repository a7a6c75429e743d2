// textDocument/inlineCompletion, as named stages (Continue's CompletionProvider has the same shape):
//   prefilter -> cache -> debounce -> prompt -> engine -> post-process -> remember and report.
// Each stage is a method below; the prompt stage is completionPrompt.ts, post-processing postProcess.ts.
import {
  ErrorCodes, InlineCompletionTriggerKind, LSPErrorCodes, ResponseError,
  type InlineCompletionList, type InlineCompletionParams,
} from 'vscode-languageserver';
import { performance } from 'node:perf_hooks';
import { AdaptiveDebounce, waitUnlessAborted } from './adaptiveDebounce';
import { CompletionCache } from './completionCache';
import {
  fitPrompt, MULTI_LINE_MAX_TOKENS, nearText, promptBudget, selectedCompletion, SINGLE_LINE_MAX_TOKENS, siteAt,
  type CompletionSite, type PreparedCompletion, type SelectedCompletion,
} from './completionPrompt';
import { checkedOffset, openDocument } from './documentPosition';
import type { DocumentStore } from './documentStore';
import type { DocumentSyntax } from './documentSyntax';
import type { CompletionAnswer, EngineClient } from './engineClient';
import type { EngineConnection } from './engineConnection';
import { EngineError, isCancellation } from './engineErrors';
import { detectIndentUnit, postProcess } from './postProcess';
import type { LatentSettings } from './protocol';
import type { StatusReporter } from './statusReporter';

/** Lines around a completion position remembered as viewed. */
const VIEW_RADIUS = 10;
/** Suggestions shown at most. */
const MAX_ITEMS = 3;

/** One request as it goes through the stages. */
interface Ask {
  uri: string;
  params: InlineCompletionParams;
  selected?: SelectedCompletion;
  invoked: boolean;
  arrived: number;
}

export class InlineCompletionProvider {
  readonly cache = new CompletionCache();
  readonly debounce = new AdaptiveDebounce();

  constructor(
    private readonly store: DocumentStore,
    private readonly engine: EngineConnection,
    private readonly status: StatusReporter,
    private readonly settings: () => LatentSettings | undefined,
    private readonly log: (message: string) => void,
  ) {
    store.onEdit(() => this.debounce.noteEdit());
  }

  async provide(params: InlineCompletionParams, cancel: AbortSignal): Promise<InlineCompletionList> {
    const ask = this.checked(params);
    if (!this.prefilter(ask)) return { items: [] };
    const cached = this.fromCache(ask);
    if (cached) return this.toList(ask, cached);
    const waited = await this.debounced(ask, cancel);
    // The document may have changed while we waited (the client then cancels soon, but until then the answer must
    // fit the text as it is now).
    const site = this.siteNow(ask);
    if (!site) return { items: [] };

    let prepared: PreparedCompletion | undefined;
    let prepareMs = 0;
    let answers: CompletionAnswer[];
    const started = performance.now();
    try {
      answers = await this.engine.run(async (client, signal) => {
        prepared = await this.prompt(client, site, signal);
        // Viewed from now on, for later prompts (this one already shows it).
        this.store.recentViews.record(ask.uri, params.position.line - VIEW_RADIUS, params.position.line + VIEW_RADIUS);
        return this.askEngine(client, prepared, ask.invoked, signal, () => { prepareMs ||= performance.now() - ask.arrived - waited; });
      }, cancel);
    } catch (e) {
      if (cancel.aborted || isCancellation(e)) throw cancelled();
      // Inline completion must never pester the user: the status bar tells what went wrong.
      this.log(`inline completion failed: ${(e as Error).message}`);
      if (e instanceof EngineError && e.kind !== 'stopped') this.status.engineState('error', e.message);
      return { items: [] };
    }

    const items = this.postProcessed(site, prepared!, answers);
    this.cache.put(ask.uri, prepared!.prefixNear, prepared!.suffixNear, items);
    this.report(ask, prepared!, answers, prepareMs, started);
    return this.toList(ask, items);
  }

  /** The request's own checks: an open document, a position inside it (InvalidParams otherwise). */
  private checked(params: InlineCompletionParams): Ask {
    if (typeof params !== 'object' || params === null) {
      throw new ResponseError(ErrorCodes.InvalidParams, 'textDocument/inlineCompletion needs params with textDocument and position');
    }
    const uri = params.textDocument?.uri;
    checkedOffset(openDocument(this.store, uri), params.position);
    return {
      uri, params, selected: selectedCompletion(params), arrived: performance.now(),
      invoked: params.context?.triggerKind === InlineCompletionTriggerKind.Invoked,
    };
  }

  /** Stage 1: documents that get no completions (binary, or a language the user switched off). */
  private prefilter(ask: Ask): DocumentSyntax | undefined {
    const syntax = this.store.get(ask.uri);
    if (!syntax || syntax.binary || this.settings()?.disabledLanguages?.includes(syntax.doc.languageId)) return undefined;
    return syntax;
  }

  /** Stage 2: suggestions made here before, or typed into (an empty answer counts, unless asked explicitly). */
  private fromCache(ask: Ask): string[] | undefined {
    const syntax = this.store.get(ask.uri)!;
    const { prefixNear, suffixNear } = nearText(siteAt(ask.uri, syntax.doc, syntax.doc.offsetAt(ask.params.position), ask.selected));
    const cached = this.cache.get(ask.uri, prefixNear, suffixNear);
    return cached && (cached.length > 0 || !ask.invoked) ? cached : undefined;
  }

  /** Stage 3: wait about one typing gap (not when invoked); returns the milliseconds waited. */
  private async debounced(ask: Ask, cancel: AbortSignal): Promise<number> {
    this.debounce.baseMs = this.settings()?.debounceMs ?? 75;
    if (!ask.invoked && !(await waitUnlessAborted(this.debounce.delayMs(), cancel))) throw cancelled();
    if (cancel.aborted) throw cancelled();
    return performance.now() - ask.arrived;
  }

  /** The site after the wait, passed through the prefilter again; undefined when there is nothing to complete. */
  private siteNow(ask: Ask): CompletionSite | undefined {
    const syntax = this.prefilter(ask);
    if (!syntax) return undefined;
    try {
      return siteAt(ask.uri, syntax.doc, checkedOffset(syntax, ask.params.position), ask.selected);
    } catch {
      return undefined;
    }
  }

  /** Stage 4: the prompt (FIM, or the prefix alone where the model says so) fitted to the budget by the engine's token counts and context length. */
  private async prompt(client: EngineClient, site: CompletionSite, signal: AbortSignal): Promise<PreparedCompletion> {
    // Counting first: an engine's /tokenize may tell the context length too.
    const counter = await this.engine.tokenCounter(client, signal);
    const { contextLength, infillPrompt } = await client.modelInfo(signal);
    const syntax = this.store.get(site.uri);
    if (!syntax) throw new EngineError('cancelled', `${site.uri} was closed`);
    return fitPrompt(this.store, syntax, site, promptBudget(this.settings(), contextLength, counter.exact), counter,
      infillPrompt, signal);
  }

  /** Stage 5: the greedy answer, plus two sampled alternatives when invoked. */
  private async askEngine(client: EngineClient, prepared: PreparedCompletion, invoked: boolean, signal: AbortSignal,
    onSend: () => void): Promise<CompletionAnswer[]> {
    const maxTokens = Math.min(this.settings()?.maxTokens ?? Infinity, prepared.multiline ? MULTI_LINE_MAX_TOKENS : SINGLE_LINE_MAX_TOKENS);
    const stop = prepared.multiline ? ['\n\n\n'] : ['\n'];
    const ask = (temperature: number, n: number) => client.complete(prepared.prompt, { maxTokens, temperature, stop, n, signal, onSend });
    if (!invoked) return [await ask(0, 1)];
    const settled = await Promise.allSettled([ask(0, 1), ask(0.8, 2)]);
    if (settled[0].status === 'rejected') throw settled[0].reason;
    return settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  }

  /** Stage 6: each choice through the post-processing filters; distinct, non-empty, at most three. */
  private postProcessed(site: CompletionSite, prepared: PreparedCompletion, answers: CompletionAnswer[]): string[] {
    const indentUnit = detectIndentUnit(site.text.slice(Math.max(0, site.offset - 20_000), site.offset + 20_000)) ?? '    ';
    const items: string[] = [];
    for (const choice of answers.flatMap((a) => a.choices)) {
      const item = postProcess(choice.text, {
        prefix: prepared.prefixNear, suffix: prepared.suffixNear, multiline: prepared.multiline, indentUnit, finishReason: choice.finishReason,
      });
      if (item && !items.includes(item) && items.length < MAX_ITEMS) items.push(item);
    }
    return items;
  }

  /** Stage 7: latency, prompt size, cache share and speed for the status bar (and the bench). */
  private report(ask: Ask, prepared: PreparedCompletion, answers: CompletionAnswer[], prepareMs: number, started: number): void {
    const usage = answers[0]?.usage;
    const engineSeconds = (performance.now() - started) / 1000;
    this.status.completionDone({
      lastLatencyMs: Math.round(performance.now() - ask.arrived),
      lastPrepareMs: Math.round(prepareMs * 100) / 100,
      lastPromptTokens: usage?.promptTokens ?? prepared.promptTokens,
      cachedShare: usage && usage.promptTokens > 0 ? usage.cachedTokens / usage.promptTokens : undefined,
      tokensPerSecond: usage && engineSeconds > 0 ? Math.round(usage.completionTokens / engineSeconds) : undefined,
    });
  }

  /** With a suggest item selected, a suggestion replaces the item's range with the item's text and what follows. */
  private toList(ask: Ask, items: string[]): InlineCompletionList {
    const { selected, params } = ask;
    return {
      items: items.map((item) => selected
        ? { insertText: selected.text + item, range: selected.range }
        : { insertText: item, range: { start: params.position, end: params.position } }),
    };
  }
}

function cancelled(): ResponseError<void> {
  return new ResponseError(LSPErrorCodes.RequestCancelled, 'inline completion cancelled');
}
