// Code actions offering the refactors on a selection or at diagnostics. Each carries the `latent.refactor`
// command with RefactorParams-like arguments; the client runs it (calls latent/refactor and shows the diff).
import { CodeActionKind, type CodeAction, type CodeActionParams } from 'vscode-languageserver';
import type { RefactorKind } from './protocol';

export const REFACTOR_COMMAND = 'latent.refactor';

export interface RefactorCommandArgs {
  kind: RefactorKind;
  uri: string;
  range: CodeActionParams['range'];
  diagnostics?: CodeActionParams['context']['diagnostics'];
}

export function refactorCodeActions(params: CodeActionParams): CodeAction[] {
  const { textDocument: { uri }, range, context } = params;
  const action = (title: string, kind: RefactorKind, actionKind: string): CodeAction => {
    const args: RefactorCommandArgs = { kind, uri, range };
    if (kind === 'fix') args.diagnostics = context.diagnostics;
    return { title, kind: actionKind, command: { title, command: REFACTOR_COMMAND, arguments: [args] } };
  };
  const actions: CodeAction[] = [];
  if (context.diagnostics?.length) actions.push(action('Latent: Fix this problem', 'fix', CodeActionKind.QuickFix));
  const selection = range.start.line !== range.end.line || range.start.character !== range.end.character;
  if (selection) {
    actions.push(
      action('Latent: Explain', 'explain', CodeActionKind.Refactor),
      action('Latent: Document', 'document', CodeActionKind.RefactorRewrite),
      action('Latent: Write tests', 'tests', CodeActionKind.Refactor),
      action('Latent: Edit with instruction…', 'edit', CodeActionKind.RefactorRewrite),
    );
  }
  const only = context.only;
  return only?.length ? actions.filter((a) => only.some((k) => a.kind === k || a.kind!.startsWith(`${k}.`))) : actions;
}
