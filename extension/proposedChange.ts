// A proposed change shown as a diff (the file against a virtual document holding the proposal) for the user to
// accept or reject; accepting applies it as one WorkspaceEdit, so one Undo takes it back. A proposal made on
// an older version of the file is refused rather than applied to the wrong place.

import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';

export const PROPOSED_SCHEME = 'latent-proposed';

export interface ProposalRequest {
  /** The file the change goes into (it may not exist yet: a new test file). */
  target: vscode.Uri;
  /** The range of the target the new text replaces. */
  range: vscode.Range;
  newText: string;
  title: string;
}

interface Proposal {
  target: vscode.Uri;
  range: vscode.Range;
  newText: string;
  /** The target's version when proposed; undefined for a file that does not exist yet. */
  version: number | undefined;
  proposedUri: vscode.Uri;
  originalUri: vscode.Uri;
  proposedText: string;
}

export class ProposedChanges implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly proposals = new Map<string, Proposal>();
  /** Texts of the virtual documents (proposals and the empty "before" of new files). */
  private readonly texts = new Map<string, string>();
  private readonly registration = vscode.workspace.registerTextDocumentContentProvider(PROPOSED_SCHEME, this);

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '';
  }

  /** Opens the diff and asks to accept or reject; resolves with whether the change was applied. */
  async propose(request: ProposalRequest): Promise<boolean> {
    const document = await openIfExists(request.target);
    const original = document?.getText() ?? '';
    const range = document ? document.validateRange(request.range) : new vscode.Range(0, 0, 0, 0);
    const start = document ? document.offsetAt(range.start) : 0;
    const end = document ? document.offsetAt(range.end) : 0;
    const proposedText = original.slice(0, start) + request.newText + original.slice(end);
    const id = randomUUID();
    const proposedUri = request.target.with({ scheme: PROPOSED_SCHEME, query: `proposal=${id}`, fragment: '' });
    const originalUri = document ? request.target : request.target.with({ scheme: PROPOSED_SCHEME, query: `empty=${id}`, fragment: '' });
    const proposal: Proposal = {
      target: request.target,
      range,
      newText: request.newText,
      version: document?.version,
      proposedUri,
      originalUri,
      proposedText,
    };
    this.proposals.set(proposedUri.toString(), proposal);
    this.texts.set(proposedUri.toString(), proposedText);
    if (!document) this.texts.set(originalUri.toString(), '');
    await vscode.commands.executeCommand('vscode.diff', originalUri, proposedUri, `${request.title} (proposed)`, { preview: false });
    await this.updateContext();
    const choice = await vscode.window.showInformationMessage(`Latent Coder: ${request.title}: apply the proposed change?`, 'Accept', 'Reject');
    if (!this.proposals.has(proposedUri.toString())) return false; // settled from the editor title meanwhile
    if (choice === 'Accept') return this.accept(proposedUri);
    await this.reject(proposedUri);
    return false;
  }

  /** Applies a proposal (the one shown in the active diff editor when no uri is given). */
  async accept(uri?: vscode.Uri): Promise<boolean> {
    const proposal = this.find(uri);
    if (!proposal) return false;
    const document = await openIfExists(proposal.target);
    if (document && document.version !== proposal.version) {
      void vscode.window.showWarningMessage(
        `Latent Coder: ${vscode.workspace.asRelativePath(proposal.target)} changed since the proposal; run the command again.`,
      );
      return false;
    }
    const edit = new vscode.WorkspaceEdit();
    if (!document) edit.createFile(proposal.target, { ignoreIfExists: true });
    edit.replace(proposal.target, proposal.range, proposal.newText);
    const applied = await vscode.workspace.applyEdit(edit);
    if (!applied) {
      void vscode.window.showErrorMessage('Latent Coder: VS Code refused the edit.');
      return false;
    }
    await this.close(proposal);
    return true;
  }

  async reject(uri?: vscode.Uri): Promise<void> {
    const proposal = this.find(uri);
    if (proposal) await this.close(proposal);
  }

  dispose(): void {
    this.registration.dispose();
  }

  private find(uri: vscode.Uri | undefined): Proposal | undefined {
    const key = uri instanceof vscode.Uri ? uri.toString() : vscode.window.activeTextEditor?.document.uri.toString();
    if (key && this.proposals.has(key)) return this.proposals.get(key);
    // From the palette without a diff focused: the newest proposal.
    return [...this.proposals.values()].pop();
  }

  private async close(proposal: Proposal): Promise<void> {
    const key = proposal.proposedUri.toString();
    this.proposals.delete(key);
    this.texts.delete(key);
    this.texts.delete(proposal.originalUri.toString());
    const tabs = vscode.window.tabGroups.all
      .flatMap((g) => g.tabs)
      .filter((t) => t.input instanceof vscode.TabInputTextDiff && t.input.modified.toString() === key);
    if (tabs.length) await vscode.window.tabGroups.close(tabs);
    await this.updateContext();
  }

  private async updateContext(): Promise<void> {
    await vscode.commands.executeCommand('setContext', 'latent.proposalOpen', this.proposals.size > 0);
  }
}

async function openIfExists(uri: vscode.Uri): Promise<vscode.TextDocument | undefined> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) return open;
  try {
    await vscode.workspace.fs.stat(uri);
  } catch {
    return undefined;
  }
  return vscode.workspace.openTextDocument(uri);
}
