#!/usr/bin/env node
// Runs one benchmark from two builds of the project (e.g. before and after a refactor), interleaved, and prints
// per numeric field of the benchmark's last-line JSON the median of each build and their ratio (after / before).
//
//   node test/bench/beforeAfter.mjs --before DIR --after DIR [--runs 3] BENCH.js [bench args...]
//
// BENCH.js is a path inside each build (e.g. out/test/bench/cpuForward.js); each run is a fresh process.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const args = process.argv.slice(2);
const take = (name, def) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const [, value] = args.splice(i, 2);
  return value;
};
const before = take('before');
const after = take('after');
const runs = Number(take('runs', '3'));
const [bench, ...benchArgs] = args;
if (!before || !after || !bench || !(runs >= 1)) {
  console.error('usage: beforeAfter.mjs --before DIR --after DIR [--runs N] BENCH.js [bench args...]');
  process.exit(2);
}

/** Numeric leaves of a JSON value, keyed by their path. */
function flatten(value, prefix = '', out = {}) {
  if (typeof value === 'number') out[prefix] = value;
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

function runOnce(dir) {
  const stdout = execFileSync(process.execPath, [path.join(dir, bench), ...benchArgs], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  const last = stdout.trim().split('\n').pop();
  return flatten(JSON.parse(last));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const results = { before: [], after: [] };
for (let r = 0; r < runs; r++) {
  for (const [name, dir] of r % 2 ? [['after', after], ['before', before]] : [['before', before], ['after', after]]) {
    console.error(`run ${r + 1}/${runs}: ${name}`);
    results[name].push(runOnce(dir));
  }
}
const summary = {};
for (const key of Object.keys(results.after[0])) {
  if (!results.before.every((b) => key in b)) continue;
  const b = median(results.before.map((x) => x[key]));
  const a = median(results.after.map((x) => x[key]));
  summary[key] = { before: b, after: a, ratio: b === 0 ? null : Number((a / b).toFixed(3)) };
  console.log(`${key.padEnd(48)} before ${b.toPrecision(4).padStart(10)}  after ${a.toPrecision(4).padStart(10)}  x${summary[key].ratio}`);
}
console.log(JSON.stringify({ runs, bench, args: benchArgs, summary }));
