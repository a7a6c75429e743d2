// Explain, Fix, Document, Write tests, Edit with instruction: each sends `latent/refactor` for the selection
// (or, with nothing selected, the cursor: the server widens it to the enclosing scope) and shows the answer:
// Explain in the chat, the others as a diff to accept or reject (proposedChange.ts).

import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import type { Diagnostic as ProtocolDiagnostic, Range as ProtocolRange } from 'vscode-languageclient/node';
import { RefactorRequestMethod, type RefactorKind, type RefactorParams } from '../server/protocol';
import type { ChatViewProvider } from './chatView';
import { errorText } from './errorText';
import type { ProposedChanges } from './proposedChange';
import { parseRefactorResult } from './refactorResult';
import type { ServerSession } from './serverSession';

export const REFACTORS: { command: string; kind: RefactorKind; title: string }[] = [
  { command: 'latent.explain', kind: 'explain', title: 'Explain' },
  { command: 'latent.fix', kind: 'fix', title: 'Fix' },
  { command: 'latent.document', kind: 'document', title: 'Document' },
  { command: 'latent.writeTests', kind: 'tests', title: 'Write tests' },
  { command: 'latent.editWithInstruction', kind: 'edit', title: 'Edit with instruction' },
];

/** What a refactor runs on; from the palette or a menu there is none and the active editor is used. */
export interface RefactorTarget {
  uri: vscode.Uri;
  range: vscode.Range;
  /** The diagnostics a code action was offered for (already in LSP form). */
  diagnostics?: ProtocolDiagnostic[];
}

/** The command of the server's code actions (server/codeActions.ts); its arguments are RefactorCommandArgs, in LSP form. */
export const SERVER_REFACTOR_COMMAND = 'latent.refactor';

export function registerRefactorCommands(session: ServerSession, proposals: ProposedChanges, chat: ChatViewProvider): vscode.Disposable[] {
  const run = async (kind: RefactorKind, title: string, target: RefactorTarget | undefined) => {
    try {
      await runRefactor(kind, title, target, session, proposals, chat);
    } catch (error) {
      void vscode.window.showErrorMessage(`Latent Coder: ${title} failed: ${errorText(error)}`);
    }
  };
  return [
    ...REFACTORS.map(({ command, kind, title }) => vscode.commands.registerCommand(command, () => run(kind, title, undefined))),
    vscode.commands.registerCommand(SERVER_REFACTOR_COMMAND, async (args: unknown) => {
      const client = await session.ready();
      const target = codeActionTarget(args, client.protocol2CodeConverter);
      const refactor = REFACTORS.find((r) => r.kind === target?.kind);
      if (!target || !refactor) {
        void vscode.window.showErrorMessage('Latent Coder: the code action carried malformed arguments.');
        return;
      }
      await run(refactor.kind, refactor.title, target.target);
    }),
  ];
}

/** Checks and converts a server code action's arguments. */
function codeActionTarget(
  args: unknown,
  p2c: { asUri(value: string): vscode.Uri; asRange(value: ProtocolRange): vscode.Range },
): { kind: RefactorKind; target: RefactorTarget } | undefined {
  if (typeof args !== 'object' || args === null) return undefined;
  const a = args as Record<string, unknown>;
  const kind = REFACTORS.find((r) => r.kind === a.kind)?.kind;
  const range = a.range as ProtocolRange | undefined;
  if (!kind || typeof a.uri !== 'string' || !Number.isInteger(range?.start?.line) || !Number.isInteger(range?.end?.line)) return undefined;
  const diagnostics = Array.isArray(a.diagnostics) ? (a.diagnostics as ProtocolDiagnostic[]) : undefined;
  return { kind, target: { uri: p2c.asUri(a.uri), range: p2c.asRange(range!), ...(diagnostics ? { diagnostics } : {}) } };
}

async function runRefactor(
  kind: RefactorKind,
  title: string,
  target: RefactorTarget | undefined,
  session: ServerSession,
  proposals: ProposedChanges,
  chat: ChatViewProvider,
): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const uri = target?.uri instanceof vscode.Uri ? target.uri : editor?.document.uri;
  if (!uri) {
    void vscode.window.showWarningMessage(`Latent Coder: open a file to ${title.toLowerCase()}.`);
    return;
  }
  const document = await vscode.workspace.openTextDocument(uri);
  const selection = target?.range instanceof vscode.Range ? target.range : editor?.selection ?? new vscode.Range(0, 0, 0, 0);
  let instruction: string | undefined;
  if (kind === 'edit') {
    instruction = await vscode.window.showInputBox({
      title: 'Latent Coder: Edit with instruction',
      prompt: selection.isEmpty ? 'What should change around the cursor?' : 'What should change in the selection?',
      placeHolder: 'e.g. use async/await instead of callbacks',
      ignoreFocusOut: true,
    });
    if (!instruction?.trim()) return;
  }
  const client = await session.ready();
  const c2p = client.code2ProtocolConverter;
  const diagnostics = kind === 'fix' && !target?.diagnostics ? diagnosticsNear(document, selection) : [];
  const range = kind === 'fix' && selection.isEmpty && diagnostics.length ? diagnostics[0].range : selection;
  const protocolDiagnostics = target?.diagnostics ?? (diagnostics.length ? await c2p.asDiagnostics(diagnostics) : undefined);
  const params: RefactorParams = {
    chatId: randomUUID(),
    kind,
    uri: c2p.asUri(document.uri),
    range: c2p.asRange(range),
    ...(instruction ? { instruction: instruction.trim() } : {}),
    ...(protocolDiagnostics?.length ? { diagnostics: protocolDiagnostics } : {}),
  };

  if (kind === 'explain') {
    const label = `${vscode.workspace.asRelativePath(document.uri)}:${range.start.line + 1}-${range.end.line + 1}`;
    await chat.explain(label, async (chatId, token) => {
      const raw = await client.sendRequest(RefactorRequestMethod, { ...params, chatId }, token);
      const parsed = parseRefactorResult(raw, params);
      if (!parsed.ok) throw new Error(parsed.error);
      return { text: parsed.result.newText, finishReason: 'stop' };
    });
    return;
  }

  const raw = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Latent Coder: ${title}`, cancellable: true },
    async (progress, token) => {
      let chars = 0;
      const deltas = session.onChatDelta(params.chatId, (delta) => {
        chars += delta.length;
        progress.report({ message: `${chars} characters written` });
      });
      try {
        return await client.sendRequest(RefactorRequestMethod, params, token);
      } finally {
        deltas.dispose();
      }
    },
  );
  const parsed = parseRefactorResult(raw, params);
  if (!parsed.ok) throw new Error(parsed.error);
  const result = parsed.result;
  const p2c = client.protocol2CodeConverter;
  await proposals.propose({
    target: result.targetUri ? p2c.asUri(result.targetUri) : document.uri,
    range: p2c.asRange(result.range),
    newText: result.newText,
    title: `${title}: ${vscode.workspace.asRelativePath(result.targetUri ? p2c.asUri(result.targetUri) : document.uri)}`,
  });
}

/** The diagnostics that touch the range (with nothing selected: those on the cursor's line), errors first. */
function diagnosticsNear(document: vscode.TextDocument, range: vscode.Range): vscode.Diagnostic[] {
  const around = range.isEmpty ? document.lineAt(range.start.line).range : range;
  return vscode.languages
    .getDiagnostics(document.uri)
    .filter((d) => d.range.intersection(around) !== undefined)
    .sort((a, b) => a.severity - b.severity);
}
