// The training program's PyTorch modules (training/model.py) compute what DeepSeek's own code computes: every
// fixture's logits within 1e-4. So what it trains is exactly the function the engine runs. Needs Debian's
// python3-torch (.ci/run installs it).
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { FIXTURES_DIR } from '../sharedDir';

const ROOT = path.resolve(__dirname, '..', '..', '..');

describe('training modules (PyTorch) against the fixtures', function () {
  this.timeout(180_000);

  it('reproduce every fixture case within 1e-4', async () => {
    const run = spawnSync('/usr/bin/python3', [path.join(ROOT, 'training', 'check_fixtures.py'), FIXTURES_DIR], { encoding: 'utf8' });
    assert.equal(run.error, undefined, `cannot run /usr/bin/python3 (apt-get install python3-torch): ${run.error?.message}`);
    const rows = run.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { fixture: string; case: string; max_abs_diff: number });
    assert.ok(rows.length >= 7, `expected every fixture case, got: ${run.stdout}\n${run.stderr}`);
    for (const r of rows) assert.ok(r.max_abs_diff <= 1e-4, `${r.fixture}/${r.case}: ${r.max_abs_diff}`);
    assert.equal(run.status, 0, run.stderr);
  });
});
