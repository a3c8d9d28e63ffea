import { openPostgresStore } from '/work/wt-group14/packages/server/dist/store/postgres/postgres-store.js';
import pg from 'pg';
const url = process.env.URL;
const clients = 64, seconds = 5, split = process.env.SPLIT === '1';
const group = JSON.parse(process.env.G ?? '{}');
const schema = `exp2_${process.pid}`;
const stores = [await openPostgresStore({ url, schema, poolSize: 10, groupCommit: group }), await openPostgresStore({ url, schema, poolSize: 10, groupCommit: group })];
const put = (id, v, doc) => ({ collection: 'things', id, expectVersion: v, doc, actor: null, keepHistory: 100 });
for (let i = 0; i < 256; i++) await stores[0].commit([put(`t${i}`, 0, { n: 0 })]);
let done = 0, fail = 0; const stop = Date.now() + seconds * 1000;
await Promise.all(Array.from({ length: clients }, async (_, w) => {
  const store = stores[w % 2];
  let i = w;
  while (Date.now() < stop) {
    // split: process p only writes resources with id % 2 == p
    let id = i % 256; i += clients;
    if (split) id = (id - (id % 2)) + (w % 2);
    const head = await store.get('things', `t${id}`);
    const r = await store.commit([put(`t${id}`, head.version, { n: head.version })]);
    if (r.ok) done++; else fail++;
  }
}));
const admin = new pg.Client({ connectionString: url }); await admin.connect();
const g = (await admin.query(`SELECT count(*)::int AS n, count(DISTINCT xmin::text)::int AS tx FROM "${schema}".changes`)).rows[0];
console.log(JSON.stringify({ split, group, rps: Math.round(done / seconds), fail, groupSize: (g.n / g.tx).toFixed(1) }));
await admin.query(`DROP SCHEMA "${schema}" CASCADE`); await admin.end(); await Promise.all(stores.map((s) => s.close()));
