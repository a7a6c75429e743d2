import * as assert from 'node:assert/strict';
import { isLanguageEnabled, readSettings, toggledLanguages, type SettingReader } from '../../extension/settings';

const reader = (values: Record<string, unknown>): SettingReader => (key) => values[key];

describe('extension settings', () => {
  it('defaults to the local engine with the embedded model', () => {
    const s = readSettings(reader({}));
    assert.deepEqual(s.server.engine, { model: '' });
    assert.equal(s.server.maxTokens, 128);
    assert.equal(s.server.debounceMs, 75);
    assert.equal(s.server.maxPromptTokens, 2048);
    assert.equal(s.enabled, true);
    assert.deepEqual(s.server.disabledLanguages, ['markdown', 'plaintext', 'scminput']);
    assert.deepEqual(s.problems, []);
  });

  it('builds a local engine with a model folder and backend', () => {
    const s = readSettings(reader({ 'engine.mode': 'local', 'engine.modelFolder': ' /models/lite ', 'engine.backend': 'webgpu' }));
    assert.deepEqual(s.server.engine, { model: '/models/lite', backend: 'webgpu' });
  });

  it('passes the reuse policy to the local engine, and refuses a malformed one', () => {
    assert.deepEqual(readSettings(reader({ 'engine.reusePolicy': 'reuse:8:2' })).server.engine, { model: '', reusePolicy: 'reuse:8:2' });
    assert.deepEqual(readSettings(reader({ 'engine.reusePolicy': 'exact' })).server.engine, { model: '', reusePolicy: 'exact' });
    const bad = readSettings(reader({ 'engine.reusePolicy': 'reuse:-1' }));
    assert.deepEqual(bad.server.engine, { model: '' });
    assert.match(bad.problems.join('\n'), /latent\.engine\.reusePolicy/);
  });

  it('builds a remote engine with the API key from the secret store', () => {
    const s = readSettings(
      reader({ 'engine.mode': 'remote', 'engine.url': 'http://gpu-box:8000/v1/', 'engine.remoteModel': 'deepseek-coder' }),
      'sk-123',
    );
    assert.deepEqual(s.server.engine, { url: 'http://gpu-box:8000/v1', apiKey: 'sk-123', model: 'deepseek-coder' });
    assert.deepEqual(s.problems, []);
    const vllm = readSettings(reader({ 'engine.mode': 'remote', 'engine.url': 'https://vllm.lan/v1', 'engine.fim': 'prompt' }));
    assert.deepEqual(vllm.server.engine, { url: 'https://vllm.lan/v1', fim: 'prompt' });
    const bad = readSettings(reader({ 'engine.mode': 'remote', 'engine.url': 'https://vllm.lan/v1', 'engine.fim': 'middle' }));
    assert.deepEqual(bad.server.engine, { url: 'https://vllm.lan/v1' });
    assert.match(bad.problems[0], /latent\.engine\.fim/);
  });

  it('refuses remote URLs that are not http(s) or carry credentials, and says so', () => {
    for (const url of ['file:///etc/passwd', 'javascript:alert(1)', 'not a url', 'http://user:pw@host/v1', 42, '']) {
      const s = readSettings(reader({ 'engine.mode': 'remote', 'engine.url': url }));
      assert.ok('model' in s.server.engine, `fell back to local for ${String(url)}`);
      assert.equal(s.problems.length, 1);
      assert.match(s.problems[0], /latent\.engine\.url/);
    }
  });

  it('replaces out-of-range or mistyped numbers with defaults and names the setting', () => {
    const s = readSettings(reader({ maxTokens: 1e9, debounceMs: '10', 'engine.backend': 'cuda', enable: 'yes' }));
    assert.equal(s.server.maxTokens, 128);
    assert.equal(s.server.debounceMs, 75);
    assert.equal(s.enabled, true);
    assert.deepEqual(s.server.engine, { model: '' });
    assert.equal(s.problems.length, 4);
    for (const name of ['maxTokens', 'debounceMs', 'engine.backend', 'enable']) {
      assert.ok(s.problems.some((p) => p.includes(`latent.${name}`)), name);
    }
    assert.equal(readSettings(reader({ maxTokens: 2.5 })).server.maxTokens, 128);
    assert.equal(readSettings(reader({ maxTokens: 512 })).server.maxTokens, 512);
  });

  it('keeps hostile language maps from touching prototypes', () => {
    const languages = JSON.parse('{"__proto__": {"polluted": true}, "constructor": false, "python": false, "bad id!": true, "go": "no"}');
    const s = readSettings(reader({ languages }));
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(isLanguageEnabled(s, 'python'), false);
    assert.equal(isLanguageEnabled(s, 'constructor'), false);
    assert.equal(isLanguageEnabled(s, 'go'), true, 'a non-boolean entry is ignored');
    assert.equal(isLanguageEnabled(s, 'toString'), true);
    assert.ok(s.problems.some((p) => p.includes('bad id!')));
    assert.ok(s.problems.some((p) => p.includes('"go"')));
    assert.deepEqual(readSettings(reader({ languages: [] })).problems.length, 1);
  });

  it('applies the "*" default and the global switch', () => {
    const s = readSettings(reader({ languages: { '*': false, typescript: true } }));
    assert.equal(isLanguageEnabled(s, 'typescript'), true);
    assert.equal(isLanguageEnabled(s, 'python'), false);
    assert.equal(isLanguageEnabled({ ...s, enabled: false }, 'typescript'), false);
  });

  it('toggles one language without touching the others', () => {
    const languages = { '*': true, markdown: false };
    assert.deepEqual(toggledLanguages(languages, 'python'), { '*': true, markdown: false, python: false });
    assert.deepEqual(toggledLanguages(languages, 'markdown'), { '*': true, markdown: true });
    assert.deepEqual(languages, { '*': true, markdown: false });
  });
});
