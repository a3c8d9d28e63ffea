// The cost of the strict request-body parser (issue 10, items 5, 13, 17) against the parse it
// replaced, on a 1 KB and a 1 MB document: `node bench/json-body.mjs` after `npm run build`.
// Baseline: the bytes decoded and parsed by secure-json-parse as before. Strict: isUtf8, the same
// decode, then parseStrictJson (JSON.parse plus one scan of the text). Printed as time per body
// and the strict parser's cost as a ratio of the baseline's. Not part of `npm run bench`.
import { Buffer, isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import secureJson from 'secure-json-parse';
import { parseStrictJson } from '@truce/protocol';

/** A document shaped like real data: objects of short strings, numbers, booleans and arrays. */
function document(bytes) {
  const items = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const item = {
      id: `item-${i}`,
      name: `Name number ${i}`,
      price: Math.round(i * 137.5) / 100,
      stock: i % 97,
      active: i % 2 === 0,
      tags: ['a', 'b', `t${i % 7}`],
      note: 'with a "quoted" word and a \\ backslash',
    };
    size += JSON.stringify(item).length + 1;
    items.push(item);
  }
  return Buffer.from(JSON.stringify({ items }));
}

const baseline = (raw) =>
  secureJson.parse(raw.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
const strict = (raw) => {
  if (!isUtf8(raw)) throw new Error('not UTF-8');
  const result = parseStrictJson(raw.toString('utf8'));
  if (!result.ok) throw new Error(JSON.stringify(result.errors[0]));
  return result.value;
};

/** How many calls of `fn` take about 50 ms. */
function callsFor(fn, raw) {
  let calls = 1;
  for (let t = 0; t < 50; calls *= 2) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) fn(raw);
    t = performance.now() - start;
  }
  return calls;
}

/**
 * CPU microseconds per call of each side (CPU time, not wall time: the machine is shared), the fastest of 15 rounds (the least disturbed by other work). The sides alternate round by round,
 * so whatever else the machine is doing weighs on both.
 */
function compare(sides, raw) {
  const calls = sides.map((fn) => callsFor(fn, raw));
  const rounds = sides.map(() => []);
  for (let r = 0; r < 15; r++) {
    sides.forEach((fn, s) => {
      const start = process.cpuUsage();
      for (let i = 0; i < calls[s]; i++) fn(raw);
      const used = process.cpuUsage(start);
      rounds[s].push((used.user + used.system) / calls[s]);
    });
  }
  return rounds.map((times) => Math.min(...times));
}

for (const [label, bytes] of [
  ['1 KB', 1024],
  ['1 MB', 1024 * 1024],
]) {
  const raw = document(bytes);
  const [base, mine] = compare([baseline, strict], raw);
  console.log(
    `${label} (${raw.length} bytes): baseline ${base.toFixed(1)} µs, strict ${mine.toFixed(1)} µs, ratio ${(mine / base).toFixed(2)}`,
  );
}
