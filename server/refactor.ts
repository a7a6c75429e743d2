// latent/refactor: explain, fix (from diagnostics), document, write tests, or edit with an instruction. The
// model's answer streams to the client as `latent/chatDelta`; the result is the proposed new text of the range
// (for the client's diff), or the explanation for `explain`.
import * as path from 'node:path';
import { ErrorCodes, LSPErrorCodes, ResponseError, type Diagnostic } from 'vscode-languageserver';
import { checkChatId, type ChatService } from './chat';
import { fence } from './chatContext';
import { checkedRange, openDocument } from './documentPosition';
import type { DocumentStore } from './documentStore';
import type { RefactorKind, RefactorParams, RefactorResult } from './protocol';
import { workspaceLabel } from './workspaceFiles';

const KINDS: RefactorKind[] = ['explain', 'fix', 'document', 'tests', 'edit'];
/** Lines of the file shown around the range so the model sees what the code relies on. */
const SURROUNDING_CHARS = 6000;

const TASKS: Record<RefactorKind, string> = {
  explain: 'Explain what the selected code does, how, and anything surprising in it. Answer in markdown.',
  fix: 'Fix the problems listed below in the selected code. Reply with only the corrected selected code in one fenced code block.',
  document: 'Add documentation comments in the language\'s usual style to the selected code, changing nothing else. Reply with only the documented selected code in one fenced code block.',
  tests: 'Write unit tests for the selected code, using the test framework the project appears to use. Reply with only the test file\'s code in one fenced code block.',
  edit: 'Apply the instruction below to the selected code. Reply with only the new selected code in one fenced code block.',
};

export class RefactorService {
  /** Diagnostics last seen in code action requests, by URI: what `fix` fixes when the request names none. */
  private readonly lastDiagnostics = new Map<string, Diagnostic[]>();

  constructor(private readonly store: DocumentStore, private readonly chat: ChatService) {}

  rememberDiagnostics(uri: string, diagnostics: Diagnostic[]): void {
    this.lastDiagnostics.set(uri, diagnostics);
  }

  async refactor(params: RefactorParams, cancel: AbortSignal): Promise<RefactorResult> {
    const chatId = checkChatId(params?.chatId);
    if (!KINDS.includes(params.kind)) {
      throw new ResponseError(ErrorCodes.InvalidParams, `kind must be one of ${KINDS.join(', ')}, not ${JSON.stringify(params.kind)}`);
    }
    const syntax = openDocument(this.store, params.uri);
    const { start, end } = checkedRange(syntax, params.range);
    if (params.kind === 'edit' && (typeof params.instruction !== 'string' || params.instruction.trim() === '')) {
      throw new ResponseError(ErrorCodes.InvalidParams, 'edit needs an instruction');
    }
    const text = syntax.doc.getText();
    const selected = text.slice(start, end);
    const label = workspaceLabel(params.uri, this.store.workspaceRoots);
    const parts = [
      TASKS[params.kind],
      `File ${label} (${syntax.doc.languageId}), the code around the selection:\n${fence(text.slice(Math.max(0, start - SURROUNDING_CHARS), Math.min(text.length, end + SURROUNDING_CHARS)))}`,
      `The selected code (lines ${params.range.start.line + 1}-${params.range.end.line + 1}):\n${fence(selected)}`,
    ];
    if (params.kind === 'fix') {
      const diagnostics = (params.diagnostics ?? this.lastDiagnostics.get(params.uri) ?? [])
        .filter((d) => d?.range && d.range.start.line <= params.range.end.line && d.range.end.line >= params.range.start.line);
      parts.push(diagnostics.length
        ? `Problems:\n${diagnostics.map((d) => `- line ${d.range.start.line + 1}: ${d.message}`).join('\n')}`
        : 'No diagnostics were reported; fix any bug you find.');
    }
    if (params.kind === 'edit') parts.push(`Instruction: ${params.instruction}`);

    const answer = await this.chat.stream(chatId, [{ role: 'user', content: parts.join('\n\n') }], cancel);
    if (answer.finishReason === 'cancelled') {
      throw new ResponseError(LSPErrorCodes.RequestCancelled, 'refactor cancelled');
    }
    if (params.kind === 'explain') return { kind: 'explain', uri: params.uri, range: params.range, newText: answer.text };
    const code = firstCodeBlock(answer.text) ?? answer.text.trim();
    if (params.kind === 'tests') {
      return { kind: 'tests', uri: params.uri, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, newText: code, targetUri: testFileUri(params.uri) };
    }
    return { kind: params.kind, uri: params.uri, range: params.range, newText: keepTrailingNewline(selected, code) };
  }
}

/** The content of the first fenced code block of a markdown answer, if it has one. */
export function firstCodeBlock(markdown: string): string | undefined {
  const match = /^(`{3,}|~{3,})[^\n]*\n([\s\S]*?)\n?^\1[ \t]*$/m.exec(markdown);
  return match ? match[2] : undefined;
}

function keepTrailingNewline(original: string, replacement: string): string {
  if (original.endsWith('\n') && !replacement.endsWith('\n')) return replacement + '\n';
  if (!original.endsWith('\n') && replacement.endsWith('\n')) return replacement.replace(/\n+$/, '');
  return replacement;
}

/** Where tests for a file conventionally go: foo.ts -> foo.test.ts, foo.py -> test_foo.py, foo.go -> foo_test.go. */
export function testFileUri(uri: string): string {
  const slash = uri.lastIndexOf('/');
  const dir = uri.slice(0, slash + 1);
  const name = uri.slice(slash + 1);
  const ext = path.extname(name);
  const base = name.slice(0, name.length - ext.length);
  if (ext === '.py') return `${dir}test_${base}.py`;
  if (ext === '.go') return `${dir}${base}_test.go`;
  if (ext === '.rs') return `${dir}${base}_tests.rs`;
  if (ext === '.java') return `${dir}${base}Test.java`;
  return `${dir}${base}.test${ext}`;
}
