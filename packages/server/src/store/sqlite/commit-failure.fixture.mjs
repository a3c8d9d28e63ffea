// A child process of the COMMIT-failure test in group-commit.test.ts. It runs under a file size
// limit (`ulimit -f`), so that the COMMIT appending a large document to the WAL fails for real
// (EFBIG), and reports how each call of that group, and a later one, settled.
// Usage: node commit-failure.fixture.mjs <adapter module URL> <database file>
const [adapterUrl, path] = process.argv.slice(2);
// Beyond the limit the kernel sends SIGXFSZ, which would end the process; handled, write() fails instead.
process.on('SIGXFSZ', () => {});
const { openSqliteStore } = await import(adapterUrl);
const store = openSqliteStore({ path });
const op = (id, expectVersion, doc) => ({
  collection: 'things',
  id,
  expectVersion,
  doc,
  actor: null,
  keepHistory: 10,
});
await store.commit([op('base', 0, { n: 0 })]);
// One group: a plain write, a call that would be refused, and a document too big for the limit.
const group = await Promise.allSettled([
  store.commit([op('a', 0, { n: 1 })]),
  store.commit([op('base', 7, { n: 'stale' })]),
  store.commit([op('big', 0, { blob: 'x'.repeat(400_000) })]),
]);
const later = await store.commit([op('later', 0, { n: 1 })]).then(
  (result) => ({ ok: result.ok }),
  (error) => ({ error: String(error) }),
);
await store.close();
const settled = (o) => (o.status === 'fulfilled' ? { value: o.value } : { error: String(o.reason) });
process.stdout.write(JSON.stringify({ group: group.map(settled), later }));
