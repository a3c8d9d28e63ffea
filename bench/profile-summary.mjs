#!/usr/bin/env node
// Summarises a V8 CPU profile (`node --cpu-prof`, e.g. from `BENCH_CPU_PROF=dir npm run bench`):
// where the time goes by package, and the functions with the most self time and total time.
//
//   node profile-summary.mjs <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

const [file, topText] = process.argv.slice(2);
if (!file) {
  console.error('usage: node profile-summary.mjs <file.cpuprofile> [top]');
  process.exit(2);
}
const top = Number(topText ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);

// Each sample lasts until the next one: timeDeltas[i + 1] belongs to samples[i] (as DevTools counts).
const selfUs = new Map();
const totalUs = new Map();
const byPackage = new Map();
let allUs = 0;
const { samples, timeDeltas } = profile;
for (let i = 0; i < samples.length; i++) {
  const us = Math.max(0, timeDeltas[i + 1] ?? 0);
  allUs += us;
  const leaf = nodes.get(samples[i]);
  add(selfUs, key(leaf), us);
  add(byPackage, packageOf(leaf.callFrame), us);
  // Total time: each function once per sample, however often it recurses.
  const seen = new Set();
  for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
    const k = key(nodes.get(id));
    if (!seen.has(k)) {
      seen.add(k);
      add(totalUs, k, us);
    }
  }
}

const ms = (us) => (us / 1000).toFixed(0).padStart(7);
const pct = (us) => `${((100 * us) / allUs).toFixed(1).padStart(5)}%`;
const print = (title, map, limit) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    console.log(`${ms(us)} ms ${pct(us)}  ${k}`);
  }
};
console.log(`${file}: ${(allUs / 1e6).toFixed(1)} s sampled, ${samples.length} samples`);
print('by package (self time)', byPackage, 20);
print(`top ${top} functions by self time`, selfUs, top);
const skip = new Set(['(root)', '(program)', '(idle)', '(garbage collector)']);
print(
  `top ${top} functions by total time`,
  new Map([...totalUs].filter(([k]) => !skip.has(k.split(' ')[0]))),
  top,
);

function add(map, k, us) {
  map.set(k, (map.get(k) ?? 0) + us);
}

function key(node) {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return name;
  return `${name} ${shorten(url)}:${lineNumber + 1}`;
}

/** Which package (or Node.js, or V8) a frame belongs to. */
function packageOf({ url, functionName }) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const modules = url.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const parts = url.slice(modules + 14).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const workspace = /\/packages\/([^/]+)\//.exec(url);
  if (workspace) return `@truce/${workspace[1]}`;
  return shorten(url);
}

function shorten(url) {
  return url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '')
    .replace(/^.*\/packages\//, 'packages/');
}
