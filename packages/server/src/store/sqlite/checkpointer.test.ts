import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESET_PAGES } from './checkpointer.js';
import { openSqliteStore } from './sqlite-store.js';

const dir = mkdtempSync(join(tmpdir(), 'truce-checkpoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * The limit the WAL must stay under: about RESET_PAGES pages (32 MiB) before the checkpointer starts
 * it over, plus what is written while a checkpoint cycle runs. Here the writes come as fast as one
 * thread can make them, several times the rate of the write benchmark, and carry 1 kB documents:
 * 60,000 of them append some 300 MiB of frames (measured with the WAL never starting over), so the
 * WAL must have started over several times to stay under the limit. It peaks around 56 MiB.
 */
const WAL_LIMIT = 96 * 1024 * 1024;

describe('sqlite checkpointer', () => {
  it('keeps the WAL under 96 MiB through 60,000 writes', async () => {
    expect(RESET_PAGES * 4096).toBeLessThan(WAL_LIMIT / 2);
    const path = join(dir, 'wal', 'truce.db');
    const store = openSqliteStore({ path });
    const doc = { title: 'a thing', tags: ['alpha', 'beta'], note: 'n'.repeat(1000) };
    // 256 resources written in turn, 64 calls at a time, as the write benchmark does.
    const versions = new Array<number>(256).fill(0);
    let largest = 0;
    for (let written = 0; written < 60_000; written += 64) {
      const results = await Promise.all(
        Array.from({ length: 64 }, (_, k) => {
          const i = (written + k) % 256;
          const id = `t${i}`;
          return store.commit([
            {
              collection: 'c',
              id,
              expectVersion: versions[i]!,
              doc: { ...doc, written },
              actor: null,
              keepHistory: 100,
            },
          ]);
        }),
      );
      results.forEach((result, k) => {
        if (!result.ok) throw new Error(`write ${written + k} failed: ${result.reason}`);
        versions[(written + k) % 256]!++;
      });
      largest = Math.max(largest, statSync(`${path}-wal`).size);
    }
    expect(largest).toBeLessThan(WAL_LIMIT);
    // Every write is there.
    expect(await store.lastSeq()).toBe(60_032);
    expect((await store.get('c', 't0'))?.version).toBe(versions[0]);
    await store.close();
  }, 120_000);
});
