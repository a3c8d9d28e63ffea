// A child process of the multi-process test in sqlite-store.test.ts: it opens the store file on its
// own connection, as a second server process would, and increments a counter with the server's
// compare-and-set protocol. It imports the built adapter because child processes run plain Node.
// Usage: node multi-process.fixture.mjs <adapter module URL> <database file> <increments> <start at, epoch ms>
const [adapterUrl, path, times, startAt] = process.argv.slice(2);
const { openSqliteStore } = await import(adapterUrl);
const store = openSqliteStore({ path });
// Start together: process start-up times differ by more than the whole run would take.
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
let successes = 0;
let conflicts = 0;
while (successes < Number(times)) {
  const head = await store.get('things', 'counter');
  // Give the other processes a chance to commit in between, so that the processes really race.
  await new Promise((resolve) => setTimeout(resolve, Math.random() < 0.5 ? 0 : 1));
  const result = await store.commit([
    {
      collection: 'things',
      id: 'counter',
      expectVersion: head.version,
      doc: { n: head.doc.n + 1 },
      actor: `pid ${process.pid}`,
      keepHistory: 100000,
    },
  ]);
  if (result.ok) successes++;
  else conflicts++;
}
await store.close();
process.stdout.write(JSON.stringify({ successes, conflicts }));
