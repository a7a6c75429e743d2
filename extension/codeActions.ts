// The lightbulb: "Fix with Latent Coder" where there are diagnostics, and the refactors on a selection.

import * as vscode from 'vscode';
import { REFACTORS, type RefactorTarget } from './refactorCommands';

export class LatentCodeActions implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix, vscode.CodeActionKind.RefactorRewrite];

  provideCodeActions(document: vscode.TextDocument, range: vscode.Range | vscode.Selection, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    const wants = (kind: vscode.CodeActionKind) => !context.only || context.only.contains(kind) || kind.contains(context.only);
    if (context.diagnostics.length && wants(vscode.CodeActionKind.QuickFix)) {
      const fixRange = context.diagnostics.map((d) => d.range).reduce((a, b) => a.union(b));
      const action = new vscode.CodeAction('Fix with Latent Coder', vscode.CodeActionKind.QuickFix);
      action.diagnostics = [...context.diagnostics];
      action.command = command('latent.fix', 'Fix with Latent Coder', { uri: document.uri, range: range.isEmpty ? fixRange : range });
      actions.push(action);
    }
    if (!range.isEmpty && wants(vscode.CodeActionKind.RefactorRewrite)) {
      for (const r of REFACTORS.filter((r) => r.kind !== 'fix')) {
        const title = `Latent Coder: ${r.title}`;
        const action = new vscode.CodeAction(title, vscode.CodeActionKind.RefactorRewrite);
        action.command = command(r.command, title, { uri: document.uri, range });
        actions.push(action);
      }
    }
    return actions;
  }
}

function command(id: string, title: string, target: RefactorTarget): vscode.Command {
  return { command: id, title, arguments: [target] };
}
