// bench_dcap_qvl.js — quotes verified per second (one core) by Phala's npm
// verifiers, to compare with veritee's own DCAP benchmark on the same quotes.
//
// Usage (ES module; Node >= 18):
//   npm install --no-audit --no-fund --prefix /tmp/qvl @phala/dcap-qvl @phala/dcap-qvl-web
//   node bench/bench_dcap_qvl.js /tmp/qvl/node_modules QUOTE COLLATERAL.json RFC3339|UNIX [SECONDS]
// e.g.
//   node bench/bench_dcap_qvl.js /tmp/qvl/node_modules \
//     ../shared/vectors/tdx/phala_v5_quote_no_matching_tcb_level.dat \
//     ../shared/vectors/tdx/phala_v5_quote_no_matching_tcb_level_collateral.json 2026-03-01T00:00:00Z
// COLLATERAL.json is dcap-qvl's QuoteCollateralV3 JSON (the vectors' *_collateral.json;
// tests/interop/test_dcap_qvl.py shows how to assemble one from separate PCS files).
// Each package verifies the quote in a loop for SECONDS (default 3) after a short
// warm-up; a verification that throws (e.g. "No matching TCB level") is timed the
// same way and reported as such.  Output: one line per package,
//   <package> <version>: <N> quotes/s (<verdict>)
// Single-threaded: the figure is per core.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [mods, quoteFile, colFile, at, secsArg] = process.argv.slice(2);
if (!mods || !quoteFile || !colFile || !at) {
  console.error('usage: node bench/bench_dcap_qvl.js NODE_MODULES QUOTE COLLATERAL.json RFC3339|UNIX [SECONDS]');
  process.exit(2);
}
const now = /^\d+$/.test(at) ? Number(at) : Math.floor(Date.parse(at) / 1000);
const secs = Number(secsArg || 3);
const quote = new Uint8Array(fs.readFileSync(quoteFile));
const col = JSON.parse(fs.readFileSync(colFile, 'utf8'));
const require = createRequire(path.join(path.resolve(mods), 'x.js'));

const runners = [];
try {
  const js = require('@phala/dcap-qvl');
  const v = require('@phala/dcap-qvl/package.json').version;
  runners.push([`@phala/dcap-qvl ${v}`, () => js.verify(quote, col, now)]);
} catch (e) {
  console.error(`@phala/dcap-qvl not loadable: ${e.message}`);
}
try {
  const dir = path.join(path.resolve(mods), '@phala', 'dcap-qvl-web');
  const web = await import(path.join(dir, 'dcap-qvl-web.js'));
  web.initSync({ module: fs.readFileSync(path.join(dir, 'dcap-qvl-web_bg.wasm')) });
  const v = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  runners.push([`@phala/dcap-qvl-web ${v}`, () => web.js_verify(quote, col, BigInt(now))]);
} catch (e) {
  console.error(`@phala/dcap-qvl-web not loadable: ${e.message}`);
}

function once(fn) {
  try {
    const r = fn();
    return `ok ${r.status}`;
  } catch (e) {
    return `fail: ${e && e.message ? e.message : e}`;
  }
}

for (const [name, fn] of runners) {
  const verdict = once(fn);
  const warm = Date.now() + 300;
  while (Date.now() < warm) once(fn);
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(Math.round(secs * 1e9));
  let t = t0;
  while (t < end) {
    once(fn);
    n++;
    if ((n & 7) === 0) t = process.hrtime.bigint();
  }
  t = process.hrtime.bigint();
  const rate = n / (Number(t - t0) / 1e9);
  console.log(`${name}: ${rate.toFixed(1)} quotes/s (${verdict})`);
}
