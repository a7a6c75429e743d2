// End-to-end in a real VS Code: the packaged .vsix installed into code-server, driven through headless
// Chromium with playwright-core. Ghost text while typing TypeScript and Tab accepting it; a chat answer about the
// selection streaming into the side panel; a refactor shown as a diff and accepted into the file.
// Screenshots go to test-artifacts/e2e/. Run: npm run test:e2e (installs code-server on first use, packages).
// Recipe and pitfalls: ../shared/recipes/code-server-e2e/ and DESIGN.md, "Testing".

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type FrameLocator, type Page } from 'playwright-core';
import { engineMissing } from '../server/engineFixture';
import { CHROMIUM, missingPrerequisite, REPO_ROOT, startCodeServer, type CodeServer } from './codeServer';

const VSIX = process.env.LATENT_E2E_VSIX ?? path.join(REPO_ROOT, 'latent-coder.vsix');
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'e2e');
/** The model the engine loads: LATENT_E2E_MODEL, else the embedded default model that the .vsix carries. */
const MODEL_FOLDER = process.env.LATENT_E2E_MODEL;
const STOP_QUESTION = 'Write a Python function `fibonacci(n)`: Return the n-th Fibonacci number, with a docstring and tests.';
const EDITOR = '[id="workbench.parts.editor"] .monaco-editor .view-lines';
const GHOST_TEXT = '[id="workbench.parts.editor"] [class*="ghost-text"]';
const SAMPLE = `// A small file for the end-to-end test.
export function add(a: number, b: number): number {
  return a + b;
}

export function scale(values: number[], factor: number): number[] {
  return values.map((v) => v * factor);
}

`;

describe('Latent Coder in a real VS Code (code-server)', function () {
  this.timeout(300_000);
  let server: CodeServer | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let workspace: string;
  let browserDir: string;
  let consoleLog: string[] = [];
  /** Why the steps after activation cannot run (no server in the .vsix, no engine to serve a model), if so. */
  let cannotComplete: string | undefined;
  /** Why the stop test could not stop an answer, if it could not. */
  let stopSkipped: string | undefined;

  before(async function () {
    const missing = missingPrerequisite();
    if (missing) throw new Error(missing);
    if (!fs.existsSync(VSIX)) throw new Error(`${VSIX} is missing: run npm run package (npm run test:e2e does)`);
    // File names in a zip's directory are stored as plain bytes.
    if (!fs.readFileSync(VSIX).includes('extension/dist/server.js')) cannotComplete = 'the .vsix carries no LSP server (server/main.ts)';
    else if (!fs.readFileSync(VSIX).includes('extension/models/latent-coder-tiny/model.safetensors')) cannotComplete = 'the .vsix carries no default model';
    else cannotComplete = await engineMissing();
    if (cannotComplete) console.log(`      (steps after activation skipped: ${cannotComplete})`);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-e2e-ws-'));
    fs.writeFileSync(path.join(workspace, 'sample.ts'), SAMPLE);
    server = await startCodeServer({
      vsix: VSIX,
      workspace,
      // An empty model folder: the local engine serves the embedded default model from the installed .vsix.
      settings: { 'latent.engine.modelFolder': MODEL_FOLDER ?? '', 'latent.maxTokens': 16 },
    });
    browserDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latent-e2e-chromium-'));
    context = await chromium.launchPersistentContext(browserDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    consoleLog = [];
    page.on('console', (m) => consoleLog.push(`[${m.type()}] ${m.text()}`));
    await page.goto(server.url, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
  });

  afterEach(async function () {
    if (page && this.currentTest) await shot(page, slug(this.currentTest.title) + (this.currentTest.state === 'failed' ? '-failed' : '-end'));
  });

  after(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'browser-console.log'), consoleLog.join('\n'));
    await context?.close().catch(() => undefined);
    if (server) {
      await server.stop();
      copyLogs(server.runDir);
      fs.rmSync(server.runDir, { recursive: true, force: true });
    }
    for (const dir of [browserDir, workspace]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('activates: the status bar item shows', async () => {
    await openFile(page, 'sample.ts');
    const item = page.locator('.statusbar-item', { hasText: 'Latent' }).first();
    await item.waitFor({ state: 'visible', timeout: 60_000 });
    await shot(page, 'activated');
    const label = (await item.getAttribute('aria-label')) ?? (await item.textContent()) ?? '';
    assert.match(label, /Latent/);
  });

  it('shows ghost text while typing, and Tab accepts it', async function () {
    if (cannotComplete) this.skip();
    await openFile(page, 'sample.ts');
    await page.click(EDITOR);
    await page.keyboard.press('Control+End');
    await page.keyboard.type('export function multiply(a: number, b: number): number {\n');
    // VS Code asks only on edits; until the engine is up, keep editing the way a user does.
    const deadline = Date.now() + 180_000;
    let text = '';
    while (Date.now() < deadline) {
      text = await ghostText(page);
      if (text.trim()) break;
      await page.keyboard.type(' ');
      await page.keyboard.press('Backspace');
      await page.waitForTimeout(3000);
    }
    await shot(page, 'ghost-text');
    assert.ok(text.trim(), 'no ghost text appeared within 180 s (see browser-console.log: InlineCompletions.fetch)');
    await page.keyboard.press('Tab');
    await page.waitForTimeout(500);
    await page.keyboard.press('Control+S');
    await waitFor(() => fs.readFileSync(path.join(workspace, 'sample.ts'), 'utf8').includes(text.trim()), 10_000);
    await shot(page, 'ghost-text-accepted');
  });

  it('measures keystroke to ghost text (p50, p95)', async function () {
    if (cannotComplete) this.skip();
    await openFile(page, 'sample.ts');
    await page.click(EDITOR);
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    const samples: number[] = [];
    const line = 'export const total = values.reduce(';
    // The typed text at each keystroke that got no ghost text within 15 s (the model proposed nothing there).
    const unansweredAt: string[] = [];
    // Each keystroke after Escape (no suggestion on screen) makes VS Code ask again; time until ghost text shows.
    for (let i = 0; i < line.length; i++) {
      await page.keyboard.press('Escape');
      const t0 = Date.now();
      await page.keyboard.type(line[i]);
      const shown = await waitForAsync(async () => (await ghostText(page)).trim() !== '', 15_000).then(() => true, () => false);
      if (shown) samples.push(Date.now() - t0);
      else unansweredAt.push(line.slice(0, i + 1));
    }
    const unanswered = unansweredAt.length;
    await shot(page, 'ghost-text-latency');
    const sorted = samples.slice().sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    const result = { keystrokes: samples.length + unanswered, answered: samples.length, p50_ms: at(0.5), p95_ms: at(0.95), samples_ms: samples, unanswered_at: unansweredAt };
    fs.writeFileSync(path.join(ARTIFACTS, 'ghost-text-latency.json'), JSON.stringify(result, null, 1));
    console.log(`      keystroke to ghost text: p50 ${result.p50_ms} ms, p95 ${result.p95_ms} ms (${samples.length} of ${result.keystrokes} keystrokes answered)`);
    assert.ok(samples.length > 0, 'no keystroke got ghost text');
  });

  it('streams a chat answer about the selection', async function () {
    if (cannotComplete) this.skip();
    await openFile(page, 'sample.ts');
    await page.click(EDITOR);
    await page.keyboard.press('Control+Home');
    for (let i = 0; i < 4; i++) await page.keyboard.press('Shift+ArrowDown');
    await runCommand(page, 'Latent: Open Chat');
    const chat = chatFrame(page);
    await chat.locator('#input').waitFor({ timeout: 30_000 });
    await chat.locator('#chips .chip.selection').waitFor({ timeout: 10_000 });
    await chat.locator('#input').fill('What does the selected function do?');
    await chat.locator('#input').press('Enter');
    const answer = chat.locator('.turn.assistant').last();
    await answer.waitFor({ timeout: 30_000 });
    await shot(page, 'chat-streaming');
    await chat.locator('#stop[hidden]').waitFor({ state: 'attached', timeout: 240_000 });
    await shot(page, 'chat-answered');
    assert.equal(await chat.locator('.note.error').count(), 0, await chat.locator('.note.error').allTextContents().then(String));
    assert.ok(((await answer.textContent()) ?? '').trim().length > 0, 'the answer is empty');
    assert.match((await chat.locator('.turn.user').last().textContent()) ?? '', /sample\.ts:1-5/);
  });

  it('stops a streaming answer with the stop button', async function () {
    if (cannotComplete) this.skip();
    // A fresh conversation: the tiny test model's context (2048 tokens) has no room for the previous answer.
    await runCommand(page, 'Latent: Clear Chat History');
    await runCommand(page, 'Latent: Open Chat');
    const chat = chatFrame(page);
    await waitForAsync(async () => (await chat.locator('.turn').count()) === 0, 10_000);
    // A request the default model answers at length (it learned docstring -> fenced function), so there is time to stop it.
    await chat.locator('#input').fill(STOP_QUESTION);
    await chat.locator('#input').press('Enter');
    if (MODEL_FOLDER === undefined) {
      // The embedded model's answers are a few tokens, often done before a click can land, so whether Stop
      // catches one is a race; a larger model (LATENT_E2E_MODEL) streams long enough to be stopped every time.
      await chat.locator('.turn.assistant:not(.streaming)').last().waitFor({ timeout: 120_000 });
      stopSkipped = 'the embedded model answers too briefly to be stopped; set LATENT_E2E_MODEL to a larger model';
      console.log(`      (skipped: ${stopSkipped})`);
      this.skip();
    }
    const answer = chat.locator('.turn.assistant.streaming .body');
    await answer.waitFor({ timeout: 30_000 });
    // Stop once the first words are there, so the answer was really streaming.
    await waitForAsync(async () => ((await answer.textContent()) ?? '').trim().length > 0, 120_000);
    await chat.locator('#stop').click();
    await chat.locator('#stop[hidden]').waitFor({ state: 'attached', timeout: 15_000 });
    await shot(page, 'chat-stopped');
    assert.match((await chat.locator('.note').last().textContent()) ?? '', /stopped/);
    assert.equal(await chat.locator('.turn.assistant.incomplete').count() > 0, true);
  });

  it('shows a refactor as a diff; accepting changes the file', async function () {
    if (cannotComplete) this.skip();
    await openFile(page, 'sample.ts');
    const before = fs.readFileSync(path.join(workspace, 'sample.ts'), 'utf8');
    await page.click(EDITOR);
    await page.keyboard.press('Control+Home');
    await page.keyboard.press('ArrowDown');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowDown');
    await runCommand(page, 'Latent: Document');
    await page.locator('.monaco-diff-editor').first().waitFor({ timeout: 240_000 });
    const accept = page.locator('.notifications-toasts .monaco-button', { hasText: 'Accept' }).first();
    await accept.waitFor({ timeout: 30_000 });
    await shot(page, 'refactor-diff');
    await accept.click();
    await page.locator('.monaco-diff-editor').first().waitFor({ state: 'detached', timeout: 15_000 });
    await page.click(EDITOR);
    await page.keyboard.press('Control+S');
    await waitFor(() => fs.readFileSync(path.join(workspace, 'sample.ts'), 'utf8') !== before, 10_000);
    await shot(page, 'refactor-accepted');
  });

  it('keeps the chat history of the workspace across a reload', async function () {
    if (cannotComplete) this.skip();
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    // The palette lists the extension's commands once the extension host has registered it.
    await page.locator('.statusbar-item', { hasText: 'Latent' }).first().waitFor({ timeout: 60_000 });
    await runCommand(page, 'Latent: Open Chat');
    const chat = chatFrame(page);
    await chat.locator('.turn.user').first().waitFor({ timeout: 30_000 });
    await shot(page, 'chat-history-after-reload');
    const questions = await chat.locator('.turn.user .body').allTextContents();
    assert.deepEqual(questions, [STOP_QUESTION]);
    if (stopSkipped) assert.equal(await chat.locator('.turn.assistant').count(), 1, 'the answer is kept');
    else assert.equal(await chat.locator('.turn.assistant.incomplete').count(), 1, 'the stopped answer is kept, marked incomplete');
  });
});

/** Opens a file of the workspace from the Explorer (quick-open's file search can stall for a while on 2 cores). */
async function openFile(page: Page, name: string): Promise<void> {
  const tab = page.locator('.tabs-container .tab', { hasText: name }).first();
  if (await tab.isVisible().catch(() => false)) await tab.click();
  else await page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first().dblclick({ timeout: 30_000 });
  // The editor part only: with VS Code's AI features on, the Chat view's input is a Monaco editor too.
  await page.waitForSelector(EDITOR, { timeout: 20_000 });
}

async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget input', { timeout: 15_000 });
  await page.keyboard.type(title);
  // Enter runs the focused row: wait until the filter has put this command there (VS Code has its own "Open Chat").
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: title }).first().waitFor({ timeout: 20_000 });
  await page.keyboard.press('Enter');
}

/**
 * The ghost text the editor shows now ('' when none): the first visible ghost-text element with text, the
 * suggestion's first line. A suggestion of several lines is drawn in pieces (the first line inline, the rest in a
 * view zone), and the first such element in the DOM need not be a visible one.
 */
async function ghostText(page: Page): Promise<string> {
  const parts = await page.locator(GHOST_TEXT).evaluateAll((elements) =>
    elements.filter((e) => e.getClientRects().length > 0 && (e.textContent ?? '').trim() !== '').map((e) => e.textContent ?? ''));
  return normalise(parts[0] ?? '');
}

/** The chat webview's document: VS Code nests it in two iframes. */
function chatFrame(page: Page): FrameLocator {
  return page.frameLocator('iframe.webview.ready').frameLocator('iframe#active-frame');
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) }).catch(() => undefined);
}

/** Logs worth keeping: code-server's, the extension host's and the extension's output channel. */
function copyLogs(runDir: string): void {
  const logs = path.join(ARTIFACTS, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.log')) fs.copyFileSync(full, path.join(logs, path.relative(runDir, full).replace(/[\\/]/g, '__')));
    }
  };
  walk(runDir);
}

async function waitForAsync(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function normalise(text: string): string {
  return text.replace(/\u00a0/g, ' ');
}

function slug(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
}
