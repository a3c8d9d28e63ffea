// The server under test: Truce as `truce serve` runs it, with SQLite on a file (WAL, default
// durability) in the folder given as the first argument.
import { createServer, parseConfigText } from '@truce/server';
import { serveForBench } from './ipc.mjs';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: node servers/truce.mjs <data-dir>');

// The collection has a schema like a real one, so a write pays for validation too.
const config = parseConfigText(
  `
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
  { baseDir: dataDir },
);

const app = await createServer(config);
await serveForBench(app);
