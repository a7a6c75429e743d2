// textDocument/inlineCompletion: from the request to the suggestions shown. Cache first (including typing
// through a shown suggestion), then an adaptive debounce, the FIM prompt with its context, the engine request
// (aborted when the client cancels), and post-processing of what comes back.
import {
  InlineCompletionTriggerKind, LSPErrorCodes, ResponseError,
  type InlineCompletionList, type InlineCompletionParams, type Position, type Range,
} from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { performance } from 'node:perf_hooks';
import { AdaptiveDebounce, waitUnlessAborted } from './adaptiveDebounce';
import { CompletionCache } from './completionCache';
import { wantsMultiline } from './completionShape';
import { gatherSnippets } from './contextGatherer';
import { checkedOffset, openDocument } from './documentPosition';
import type { DocumentStore } from './documentStore';
import type { CompletionAnswer } from './engineClient';
import type { EngineConnection } from './engineConnection';
import { EngineError, isCancellation } from './engineErrors';
import { buildFimPrompt, DEFAULT_BUDGET, type FimPrompt } from './fimPrompt';
import { languageInfo } from './languages';
import { detectIndentUnit, postProcess } from './postProcess';
import type { LatentSettings } from './protocol';
import type { StatusReporter } from './statusReporter';

const SINGLE_LINE_MAX_TOKENS = 48;
const MULTI_LINE_MAX_TOKENS = 128;
/** Characters around the cursor post-processing and the cache look at. */
const NEAR_PREFIX_CHARS = 2000;
const NEAR_SUFFIX_CHARS = 1000;
/** Lines around a completion position remembered as viewed. */
const VIEW_RADIUS = 10;

export interface PreparedCompletion {
  prompt: FimPrompt;
  /** The text the completion continues (the document, with a selected suggest item applied). */
  text: string;
  multiline: boolean;
  prefixNear: string;
  suffixNear: string;
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
    const arrived = performance.now();
    const uri = params?.textDocument?.uri;
    checkedOffset(openDocument(this.store, uri), params.position);
    const settings = this.settings();
    const selected = selectedCompletion(params);
    // With a completion item selected in the suggest widget, the suggestion continues that item: it replaces
    // the item's range with the item's text and what follows.
    const toList = (items: string[]): InlineCompletionList => ({
      items: items.map((item) => selected
        ? { insertText: selected.text + item, range: selected.range }
        : { insertText: item, range: { start: params.position, end: params.position } }),
    });
    const invoked = params.context?.triggerKind === InlineCompletionTriggerKind.Invoked;
    const cached = this.lookUp(uri, params.position, selected);
    // An empty answer is remembered too, but the user asking explicitly gets a fresh try (with alternatives).
    if (cached && (cached.length > 0 || !invoked)) return toList(cached);

    this.debounce.baseMs = settings?.debounceMs ?? 75;
    if (!invoked && !(await waitUnlessAborted(this.debounce.delayMs(), cancel))) throw cancelled();
    if (cancel.aborted) throw cancelled();
    const waited = performance.now() - arrived;

    // Read the document again: it may have changed while we waited (then the client cancels this request
    // soon, but until then the answer must fit the text as it is now).
    const syntax = this.store.get(uri);
    if (!syntax || syntax.binary || settings?.disabledLanguages?.includes(syntax.doc.languageId)) return { items: [] };
    let offset: number;
    try {
      offset = checkedOffset(syntax, params.position);
    } catch {
      return { items: [] };
    }
    const prepared = this.prepare(uri, offset, settings, selected);
    this.store.recentViews.record(uri, params.position.line - VIEW_RADIUS, params.position.line + VIEW_RADIUS);
    let prepareMs = 0;
    const started = performance.now();
    const maxTokens = Math.min(settings?.maxTokens ?? Infinity, prepared.multiline ? MULTI_LINE_MAX_TOKENS : SINGLE_LINE_MAX_TOKENS);
    const stop = prepared.multiline ? ['\n\n\n'] : ['\n'];
    const onSend = () => { prepareMs ||= performance.now() - arrived - waited; };
    const ask = (temperature: number, n: number) => this.engine.run((client, signal) =>
      client.complete(prepared.prompt, { maxTokens, temperature, stop, n, signal, onSend }), cancel);

    let answers: CompletionAnswer[];
    try {
      // Invoked: the greedy answer plus two sampled alternatives; automatic: the greedy answer only.
      answers = invoked
        ? (await Promise.allSettled([ask(0, 1), ask(0.8, 2)])).flatMap((r, i) => {
          if (r.status === 'fulfilled') return [r.value];
          if (i === 0) throw r.reason;
          return [];
        })
        : [await ask(0, 1)];
    } catch (e) {
      if (cancel.aborted || isCancellation(e)) throw cancelled();
      // Inline completion must never pester the user: the status bar tells what went wrong.
      this.log(`inline completion failed: ${(e as Error).message}`);
      if (e instanceof EngineError && e.kind !== 'stopped') this.status.engineState('error', e.message);
      return { items: [] };
    }

    const text = prepared.text;
    const indentUnit = detectIndentUnit(text.slice(Math.max(0, offset - 20_000), offset + 20_000)) ?? '    ';
    const items: string[] = [];
    for (const choice of answers.flatMap((a) => a.choices)) {
      const item = postProcess(choice.text, {
        prefix: prepared.prefixNear, suffix: prepared.suffixNear, multiline: prepared.multiline, indentUnit, finishReason: choice.finishReason,
      });
      if (item && !items.includes(item) && items.length < 3) items.push(item);
    }
    this.cache.put(uri, prepared.prefixNear, prepared.suffixNear, items);

    const usage = answers[0]?.usage;
    const engineSeconds = (performance.now() - started) / 1000;
    this.status.completionDone({
      lastLatencyMs: Math.round(performance.now() - arrived),
      lastPrepareMs: Math.round(prepareMs * 100) / 100,
      cachedShare: usage && usage.promptTokens > 0 ? usage.cachedTokens / usage.promptTokens : undefined,
      tokensPerSecond: usage && engineSeconds > 0 ? Math.round(usage.completionTokens / engineSeconds) : undefined,
    });
    return toList(items);
  }

  /** Cached completions still valid at the request's position (binary and disabled documents get none). */
  private lookUp(uri: string, position: Position, selected: SelectedCompletion | undefined): string[] | undefined {
    const syntax = this.store.get(uri)!;
    if (syntax.binary || this.settings()?.disabledLanguages?.includes(syntax.doc.languageId)) return undefined;
    const { text, offset } = textAsSeen(syntax.doc, syntax.doc.offsetAt(position), selected);
    return this.cache.get(uri, text.slice(Math.max(0, offset - NEAR_PREFIX_CHARS), offset), text.slice(offset, offset + NEAR_SUFFIX_CHARS));
  }

  /** The prompt and shape of a completion at `offset` (no engine involved; the bench and tests call it too). */
  prepare(uri: string, documentOffset: number, settings = this.settings(), selected?: SelectedCompletion): PreparedCompletion {
    const syntax = this.store.get(uri)!;
    const { text, offset } = textAsSeen(syntax.doc, documentOffset, selected);
    // The tree describes the document, not the document with the selected item in it.
    const tree = selected ? undefined : syntax.currentTree;
    const cursorLine = syntax.doc.positionAt(documentOffset).line;
    // Leave the model room to answer: a prompt near its context length would be refused.
    const contextLength = this.engine.contextLength();
    let maxPromptTokens = settings?.maxPromptTokens ?? DEFAULT_BUDGET.maxPromptTokens;
    if (contextLength) maxPromptTokens = Math.min(maxPromptTokens, Math.floor((contextLength - MULTI_LINE_MAX_TOKENS) * 0.75));
    const prompt = buildFimPrompt({
      uri, text, offset, tree,
      lineComment: languageInfo(syntax.doc.languageId).lineComment,
      snippets: gatherSnippets(this.store, uri, cursorLine),
      lineAt: (o) => syntax.doc.positionAt(o).line,
      budget: { ...DEFAULT_BUDGET, maxPromptTokens },
    });
    return {
      prompt,
      text,
      multiline: wantsMultiline(text, offset, tree),
      prefixNear: text.slice(Math.max(0, offset - NEAR_PREFIX_CHARS), offset),
      suffixNear: text.slice(offset, offset + NEAR_SUFFIX_CHARS),
    };
  }
}

interface SelectedCompletion { range: Range; text: string }

function selectedCompletion(params: InlineCompletionParams): SelectedCompletion | undefined {
  const info = params.context?.selectedCompletionInfo;
  const ok = (p: Position | undefined) => Number.isInteger(p?.line) && Number.isInteger(p?.character) && p!.line >= 0 && p!.character >= 0;
  if (!info || typeof info.text !== 'string' || !ok(info.range?.start) || !ok(info.range?.end)) return undefined;
  return { range: info.range, text: info.text };
}

/** The document's text and cursor offset, or, with a selected suggest item, as if that item were accepted. */
function textAsSeen(doc: TextDocument, offset: number, selected: SelectedCompletion | undefined): { text: string; offset: number } {
  const text = doc.getText();
  if (!selected) return { text, offset };
  const start = doc.offsetAt(selected.range.start);
  const end = Math.max(start, doc.offsetAt(selected.range.end));
  return { text: text.slice(0, start) + selected.text + text.slice(end), offset: start + selected.text.length };
}

function cancelled(): ResponseError<void> {
  return new ResponseError(LSPErrorCodes.RequestCancelled, 'inline completion cancelled');
}
