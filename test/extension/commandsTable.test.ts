// Every command the manifest contributes is registered, once, by the extension's command tables (commands.ts and
// refactorCommands.ts), and nothing is registered that the manifest does not know (except the server's own
// code-action command). The tables need `vscode` only to register; a recorder stands in for it here.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import Module = require('node:module');
import * as path from 'node:path';

const registered: string[] = [];
const vscodeStandIn = {
  commands: { registerCommand: (name: string) => { registered.push(name); return { dispose() {} }; } },
};

describe('extension commands', () => {
  const moduleApi = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolve = moduleApi._resolveFilename;
  before(() => {
    moduleApi._resolveFilename = (request, ...rest) => (request === 'vscode' ? 'vscode' : resolve(request, ...rest));
    require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscodeStandIn } as unknown as NodeJS.Module;
  });
  after(() => {
    moduleApi._resolveFilename = resolve;
    delete require.cache.vscode;
  });

  it('registers exactly the commands the manifest contributes, each once', () => {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { registerCommands } = require('../../extension/commands') as typeof import('../../extension/commands');
    const { registerRefactorCommands, SERVER_REFACTOR_COMMAND } = require('../../extension/refactorCommands') as typeof import('../../extension/refactorCommands');
    /* eslint-enable @typescript-eslint/no-require-imports */
    registerCommands({} as Parameters<typeof registerCommands>[0]);
    registerRefactorCommands(...([{}, {}, {}] as unknown as Parameters<typeof registerRefactorCommands>));
    const manifest = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
    const contributed: string[] = manifest.contributes.commands.map((c: { command: string }) => c.command);
    assert.deepEqual([...registered].sort(), [...contributed, SERVER_REFACTOR_COMMAND].sort());
    assert.equal(new Set(registered).size, registered.length);
  });
});
