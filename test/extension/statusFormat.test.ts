import * as assert from 'node:assert/strict';
import { formatMetrics, formatStatus } from '../../extension/statusFormat';

describe('status bar text', () => {
  it('shows latency, cached share and speed when ready', () => {
    const view = formatStatus({
      client: 'running',
      enabled: true,
      status: { engine: 'ready', lastLatencyMs: 123.4, cachedShare: 0.874, tokensPerSecond: 42.3 },
    });
    assert.equal(view.text, '$(sparkle) Latent · 123 ms · 87% cached · 42 tok/s');
    assert.equal(view.severity, 'normal');
    assert.match(view.tooltip, /latent cache: 87%/);
  });

  it('formats slow and small numbers readably', () => {
    assert.deepEqual(formatMetrics({ engine: 'ready', lastLatencyMs: 2345, tokensPerSecond: 3.14159 }).short, ['2.3 s', '3.1 tok/s']);
    assert.deepEqual(formatMetrics({ engine: 'ready', cachedShare: 0 }).short, ['0% cached']);
  });

  it('leaves out numbers that make no sense', () => {
    const metrics = formatMetrics({
      engine: 'ready',
      lastLatencyMs: -5,
      cachedShare: 1.5,
      tokensPerSecond: Number.NaN,
    });
    assert.deepEqual(metrics, { short: [], long: [] });
    const junk = JSON.parse('{"engine":"ready","lastLatencyMs":"12","cachedShare":null,"tokensPerSecond":1e400}');
    assert.deepEqual(formatMetrics(junk).short, []);
  });

  it('shows starting, loading with progress, error and stopped states', () => {
    assert.match(formatStatus({ client: 'starting', enabled: true }).text, /loading~spin/);
    const loading = formatStatus({ client: 'running', enabled: true, status: { engine: 'loading', progress: 0.425 } });
    assert.equal(loading.text, '$(loading~spin) Latent 42%');
    const error = formatStatus({ client: 'running', enabled: true, status: { engine: 'error', message: 'model folder not found' } });
    assert.equal(error.severity, 'error');
    assert.match(error.tooltip, /model folder not found/);
    assert.equal(formatStatus({ client: 'failed', enabled: true }).severity, 'error');
    assert.equal(formatStatus({ client: 'stopped', enabled: true }).severity, 'warning');
  });

  it('says when completions are off, globally or for the language', () => {
    const ready = { engine: 'ready' as const };
    assert.match(formatStatus({ client: 'running', enabled: false, status: ready }).tooltip, /Inline completions are off\./);
    const off = formatStatus({ client: 'running', enabled: true, status: ready, languageId: 'markdown', languageEnabled: false });
    assert.match(off.text, /circle-slash/);
    assert.match(off.tooltip, /off for markdown/);
  });

  it('keeps a hostile server message to one plain line without codicons', () => {
    const message = `$(bug) injected\n\u0007second line ${'x'.repeat(500)}`;
    const view = formatStatus({ client: 'running', enabled: true, status: { engine: 'error', message } });
    const line = view.tooltip.split('\n')[1];
    assert.ok(!line.includes('$('), line);
    assert.ok(line.length <= 200);
    assert.ok(!/[\u0000-\u001f]/.test(line));
  });

  it('treats an unknown engine state as starting', () => {
    const view = formatStatus({ client: 'running', enabled: true, status: JSON.parse('{"engine":"<b>x</b>"}') });
    assert.match(view.text, /loading~spin/);
  });
});
