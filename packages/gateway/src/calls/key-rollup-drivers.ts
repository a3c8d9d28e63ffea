import type Database from 'better-sqlite3';
import type pg from 'pg';
import { numbered } from './analytics-sql.js';
import {
  type KeyRollupState,
  type Query,
  readState,
  rollUpStep,
  type Rows,
  type Script,
} from './key-rollups.js';

/** Runs key roll-up scripts (calls/key-rollups.ts) on one store. */
export interface ScriptDriver {
  /** Runs a script of reads. */
  read<T>(script: Script<T>): Promise<T>;
  /**
   * Runs a script in one transaction and answers its result, unless another process is running
   * one: then not at all, and undefined.
   */
  exclusive<T>(script: Script<T>): Promise<T | undefined>;
}

/** Steps one `rollUp` takes at most: six hours of minutes (a step per dimension), or their overlaps. */
const MAX_STEPS = 360 * 4;

/** The key roll-ups of one call log: rolling up (the retention timer) and reading (the reports). */
export class KeyRollups {
  constructor(private readonly driver: ScriptDriver) {}

  /** How far the roll-ups reach, or null before the first roll-up. */
  state(): Promise<KeyRollupState | null> {
    return this.driver.read(readState());
  }

  /**
   * Rolls up what `now` has closed and prunes what `rollupsMs` has expired (key-rollups.ts), one
   * step (a dimension of a minute or an hour) per transaction, letting other work (the proxy, on
   * SQLite's synchronous driver) run between steps; at most
   * MAX_STEPS steps, so a long backlog is caught up over several calls.
   */
  async rollUp(now: number, rollupsMs: number): Promise<void> {
    for (let i = 0; i < MAX_STEPS; i++) {
      if ((await this.driver.exclusive(rollUpStep(now, rollupsMs))) !== true) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  read<T>(script: Script<T>): Promise<T> {
    return this.driver.read(script);
  }
}

function runSync<T>(script: Script<T>, exec: (query: Query) => Rows): T {
  let step = script.next();
  while (!step.done) step = script.next(exec(step.value));
  return step.value;
}

async function runAsync<T>(script: Script<T>, exec: (query: Query) => Promise<Rows>): Promise<T> {
  let step = script.next();
  while (!step.done) step = script.next(await exec(step.value));
  return step.value;
}

/** Statements kept prepared at most (the `IN` lists of a few sizes make a few more). */
const PREPARED = 256;

/**
 * On SQLite: synchronously, so nothing else on the connection comes between the statements; the
 * roll-up in an IMMEDIATE transaction, which other processes wait for (busy timeout) rather than skip.
 */
export function sqliteDriver(db: Database.Database): ScriptDriver {
  const prepared = new Map<string, Database.Statement>();
  const exec = ({ sql, args }: Query): Rows => {
    const text = sql.replaceAll('{s}', '');
    let statement = prepared.get(text);
    if (!statement) {
      statement = db.prepare(text);
      if (prepared.size < PREPARED) prepared.set(text, statement);
    }
    if (statement.reader) return statement.all(...args) as Rows;
    statement.run(...args);
    return [];
  };
  return {
    read: async (script) => runSync(script, exec),
    exclusive: async (script) => db.transaction(() => runSync(script, exec)).immediate(),
  };
}

/**
 * On PostgreSQL: reads on the pool; the roll-up in one transaction under a try-lock on the schema's
 * name, so when several gateways share the database one rolls up and the others skip the round.
 */
export function postgresDriver(pool: pg.Pool, s: string, schema: string): ScriptDriver {
  const text = (sql: string) => numbered(sql.replaceAll('{s}', `${s}.`));
  return {
    read: (script) =>
      runAsync(script, async (query) => (await pool.query(text(query.sql), [...query.args])).rows),
    async exclusive(script) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const { rows } = await client.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok',
          [`truce:gateway:key-rollups:${schema}`],
        );
        const result = rows[0]?.ok
          ? await runAsync(
              script,
              async (query) => (await client.query(text(query.sql), [...query.args])).rows,
            )
          : undefined;
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw error;
      } finally {
        client.release(broken);
      }
    },
  };
}
