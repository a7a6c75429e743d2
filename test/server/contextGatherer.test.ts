import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gatherSnippets } from '../../server/contextGatherer';
import { DocumentStore } from '../../server/documentStore';
import { indexWorkspace } from '../../server/workspaceFiles';

describe('context around the cursor', () => {
  let dir: string;
  let store: DocumentStore;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-lsp-context-'));
    fs.mkdirSync(path.join(dir, 'src'));
    fs.mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src', 'geometry.ts'),
      'export interface Point { x: number; y: number }\n\nexport function distance(a: Point, b: Point): number {\n  return Math.hypot(a.x - b.x, a.y - b.y);\n}\n');
    fs.writeFileSync(path.join(dir, 'src', 'units.py'), 'def to_metres(feet):\n    return feet * 0.3048\n');
    fs.writeFileSync(path.join(dir, 'src', 'shapes.c'), 'struct shape { int sides; };\nint area(struct shape *s) { return s->sides; }\n');
    fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.ts'), 'export function distance() {}\n');
  });
  after(() => { store?.dispose(); fs.rmSync(dir, { recursive: true, force: true }); });

  it('finds definitions of symbols used near the cursor in other workspace files, skipping node_modules', async () => {
    store = new DocumentStore(() => undefined);
    store.workspaceRoots = [dir];
    const indexed = await indexWorkspace([dir], store.definitions, (uri) => store.get(uri) !== undefined, () => undefined, () => false);
    assert.equal(indexed, 3);
    const uri = pathToFileURL(path.join(dir, 'src', 'main.ts')).toString();
    await store.open({ textDocument: { uri, languageId: 'typescript', version: 1, text: 'import { distance, Point } from "./geometry";\n\nconst p: Point = { x: 1, y: 2 };\nconst d = distance(p, ' } });
    const snippets = gatherSnippets(store, uri, 3);
    const definitions = snippets.filter((s) => s.kind === 'definition');
    assert.deepEqual(definitions.map((s) => [s.label, s.startLine, s.text.split('\n')[0]]), [
      ['src/geometry.ts', 0, 'export interface Point { x: number; y: number }'],
      ['src/geometry.ts', 2, 'export function distance(a: Point, b: Point): number {'],
    ]);
  });

  it('names C definitions found through their declarators', () => {
    const names = ['shape', 'area', 'to_metres'].map((n) => store.definitions.definitionsOf([n]).map((s) => s.label));
    assert.deepEqual(names, [['src/shapes.c'], ['src/shapes.c'], ['src/units.py']]);
  });

  it('remembers edited ranges and moves them when lines are inserted above', async () => {
    const uri = pathToFileURL(path.join(dir, 'src', 'edit.ts')).toString();
    await store.open({ textDocument: { uri, languageId: 'typescript', version: 1, text: 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n' } });
    store.change({ textDocument: { uri, version: 2 }, contentChanges: [{ range: { start: { line: 8, character: 0 }, end: { line: 8, character: 1 } }, text: 'I' }] });
    assert.deepEqual(store.recentEdits.list().filter((r) => r.uri === uri), [{ uri, startLine: 5, endLine: 11 }]);
    store.change({ textDocument: { uri, version: 3 }, contentChanges: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, text: 'new\nlines\n' }] });
    const ranges = store.recentEdits.list().filter((r) => r.uri === uri);
    assert.deepEqual(ranges, [{ uri, startLine: 7, endLine: 13 }, { uri, startLine: 0, endLine: 5 }]);
    const edited = gatherSnippets(store, uri, 0).filter((s) => s.kind === 'edited' && s.uri === uri);
    assert.equal(edited[0].text, 'f\ng\nh\nI\nj\n');
  });
});
