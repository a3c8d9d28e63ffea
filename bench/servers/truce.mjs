// The server under test: Truce as `truce serve` runs it, with SQLite on a file (WAL, default
// durability) in the folder given as the first argument, and the collections a scenario needs,
// named by the second (default `things`). Each scenario gets its own server and database, so one
// scenario's collections never weigh on another's numbers. With TRUCE_BENCH_STORAGE set (a
// postgres:// URL, as `--storage` would give it), the same collections live in PostgreSQL instead,
// in the schema TRUCE_BENCH_PG_SCHEMA (created when missing), with TRUCE_BENCH_PG_POOL_SIZE
// connections when set (else the server's default).
import { boundYoungGeneration } from '@truce/runtime';
import { createServer, parseConfigText } from '@truce/server';
import { serveForBench } from './ipc.mjs';

// As `truce serve` sets up its process (packages/cli/src/main.ts).
if (process.env.TRUCE_BENCH_DEFAULT_HEAP === undefined) boundYoungGeneration();

/** A user-like document; U1 runs it with and without unique constraints, nothing else differs. */
const members = (unique) => `
storage: sqlite:./truce.db
collections:
  members:
    schema:
      type: object
      required: [email, org, handle]
      properties:
        email: { type: string }
        org: { type: string }
        handle: { type: string }
        name: { type: string }
        active: { type: boolean }
        note: { type: string }
${unique}`;

const CONFIGS = {
  // B1, B2. The collection has a schema like a real one, so a write pays for validation too.
  things: `
storage: sqlite:./truce.db
collections:
  things:
    schema:
      type: object
      required: [title]
      properties:
        title: { type: string }
        count: { type: integer }
        tags: { type: array, items: { type: string } }
        note: { type: string }
`,
  // U1: e-mail unique in any letter case, and a handle unique per organisation (two index keys).
  'members-unique': members(`    unique:
      - { fields: [email], caseInsensitive: true }
      - { fields: [org, handle] }
`),
  // U1's reference: the same collection without unique constraints.
  'members-plain': members(''),
  // D1: the stock bound that _increment enforces.
  products: `
storage: sqlite:./truce.db
collections:
  products:
    schema:
      type: object
      required: [name, stock]
      properties:
        name: { type: string }
        stock: { type: integer, minimum: 0 }
`,
  // M1: one document of many small fields, edited by many writers at once. History keeps enough
  // versions that a writer's base (the version its own last write produced) is always still there.
  fields: `
storage: sqlite:./truce.db
collections:
  docs:
    schema:
      type: object
      additionalProperties: { type: integer }
    history: { keep: 1000 }
`,
  // I1: plain creates, with and without an Idempotency-Key (the same collection on both sides).
  notes: `
storage: sqlite:./truce.db
collections:
  notes:
    schema:
      type: object
      required: [ref, title]
      properties:
        ref: { type: string }
        title: { type: string }
        tags: { type: array, items: { type: string } }
        note: { type: string }
`,
};

const [dataDir, configName = 'things'] = process.argv.slice(2);
if (!dataDir || !Object.hasOwn(CONFIGS, configName)) {
  throw new Error(`usage: node servers/truce.mjs <data-dir> [${Object.keys(CONFIGS).join('|')}]`);
}

const {
  TRUCE_BENCH_STORAGE: storage,
  TRUCE_BENCH_PG_SCHEMA: schema,
  TRUCE_BENCH_PG_POOL_SIZE: pool,
  BENCH_PG_GROUP_COMMIT: groupCommit,
} = process.env;
// The `postgres` section as a user writes it; JSON is YAML, and quotes any schema name.
// BENCH_PG_GROUP_COMMIT is its `groupCommit` as JSON, e.g. {"maxGroups":1,"window":"1ms"}.
const postgres = storage
  ? `postgres: ${JSON.stringify({
      ...(schema && { schema }),
      ...(pool && { poolSize: Number(pool) }),
      ...(groupCommit && { groupCommit: JSON.parse(groupCommit) }),
    })}\n`
  : '';
const config = parseConfigText(CONFIGS[configName] + postgres, {
  baseDir: dataDir,
  ...(storage && { overrides: { storage } }),
});
const app = await createServer(config);
await serveForBench(app);
