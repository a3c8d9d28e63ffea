import { openPostgresStore } from '/work/wt-group14/packages/server/dist/store/postgres/postgres-store.js';
import pg from 'pg';
const url = process.env.URL;
const clients = Number(process.env.C ?? 64), seconds = Number(process.env.S ?? 5);
const group = JSON.parse(process.env.G ?? '{}');
const schema = `exp_${process.pid}`;
const store = await openPostgresStore({ url, schema, poolSize: 10, groupCommit: group });
const put = (id, v, doc) => ({ collection: 'things', id, expectVersion: v, doc, actor: null, keepHistory: 100 });
const versions = [];
for (let i = 0; i < 256; i++) { await store.commit([put(`t${i}`, 0, { n: 0 })]); versions[i] = 1; }
const admin = new pg.Client({ connectionString: url }); await admin.connect();
const stat = async () => (await admin.query(`SELECT xact_commit::int AS c FROM pg_stat_database WHERE datname = current_database()`)).rows[0].c;
const c0 = await stat(); const cpu0 = process.cpuUsage();
let done = 0, stop = Date.now() + seconds * 1000;
await Promise.all(Array.from({ length: clients }, async (_, w) => {
  let i = w;
  while (Date.now() < stop) {
    const id = i % 256; i += clients;
    const head = await store.get('things', `t${id}`);
    const r = await store.commit([put(`t${id}`, head.version, { n: head.version })]);
    if (r.ok) done++;
  }
}));
const c1 = await stat();
const g = (await admin.query(`SELECT count(*)::int AS n, count(DISTINCT xmin::text)::int AS tx FROM "${schema}".changes`)).rows[0]; const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ group, rps: Math.round(done / seconds), commits: c1 - c0, groupSize: (g.n / g.tx).toFixed(1), nodeCpuMsPerReq: ((cpu.user + cpu.system) / 1000 / done).toFixed(3) }));
await admin.query(`DROP SCHEMA "${schema}" CASCADE`); await admin.end(); await store.close();
