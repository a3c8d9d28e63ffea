import { createHash } from 'node:crypto';

/*
 * Change sequence numbers on PostgreSQL, and the watermark below which the feed may be read.
 *
 * The feed's promise (SPEC 3.10) is that a reader never sees a sequence number before every lower
 * one: once it has read 7, no change numbered 5 may appear later. Numbers come from the SEQUENCE
 * `change_seq`, taken by a commit's last statement (`take_seqs`), and transactions commit in any
 * order, so a reader must not go past the lowest number some transaction still holds uncommitted.
 * Each such transaction says so with a transaction-scoped advisory lock keyed by its lowest number,
 * which PostgreSQL itself releases when the transaction ends, after its changes became visible
 * (commit) or vanished (rollback, a dropped connection, a crash). `feed_boundary` reads those locks
 * in `pg_locks`:
 *
 *   boundary = min(last number handed out, lowest number still in flight - 1)
 *
 * Every number up to the boundary belongs to a finished transaction, so every statement that starts
 * afterwards sees all of them that committed; the feed reads `seq <= boundary` in a statement of
 * its own, never in the one that computed it.
 *
 * Taking numbers and taking the lock are two steps, and a reader between them would miss a number
 * already handed out. A gate closes that window: writers hold it shared around both steps (so they
 * never wait for each other), and `feed_boundary` holds it exclusively while it reads the sequence
 * and the locks. Both are session-level advisory locks held for microseconds inside one function
 * call, released on every path out of it, errors and cancels included.
 *
 * Nothing is held across the WAL flush that every other writer must wait for: that was the cost of
 * the counter row this replaced (schema.ts, migration 3). A reader waits only for transactions that
 * already took their numbers, which they do as their last statement before COMMIT.
 *
 * Advisory keys are pairs of int4: (gate, 0) and (flight, low 32 bits of the number), with gate and
 * flight derived from the schema's name so that schemas of one database keep apart. The full number
 * is recovered from its low 32 bits as the nearest one at or below the last number handed out,
 * which is exact while no transaction is 2^32 numbers behind.
 */

/** The sequence's name as a SQL string literal, for setval and nextval. */
export function seqLiteral(s: string): string {
  return `'${`${s}.change_seq`.replaceAll("'", "''")}'`;
}

/** The two advisory key classes of schema `s` (quoted), positive int4. */
export function feedLockKeys(s: string): { gate: number; flight: number } {
  const digest = createHash('sha256').update(`truce:feed:${s}`).digest();
  return { gate: digest.readUInt32BE(0) & 0x7fffffff, flight: digest.readUInt32BE(4) & 0x7fffffff };
}

/** The functions `take_seqs(n)` and `feed_boundary()` of schema `s` (quoted). */
export function feedFunctions(s: string): string {
  const { gate, flight } = feedLockKeys(s);
  const seq = seqLiteral(s);
  return `
  CREATE FUNCTION ${s}.take_seqs(n integer) RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $truce$
  DECLARE
    seqs bigint[];
    low bigint;
  BEGIN
    BEGIN
      PERFORM pg_advisory_lock_shared(${gate}, 0);
      SELECT array_agg(v ORDER BY v) INTO seqs
        FROM (SELECT nextval(${seq}) AS v FROM generate_series(1, n)) AS taken;
      low := seqs[1] % 4294967296;
      PERFORM pg_advisory_xact_lock_shared(${flight},
        (CASE WHEN low >= 2147483648 THEN low - 4294967296 ELSE low END)::integer);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
      PERFORM pg_advisory_unlock_shared(${gate}, 0);
      RAISE;
    END;
    PERFORM pg_advisory_unlock_shared(${gate}, 0);
    RETURN seqs;
  END
  $truce$;

  CREATE FUNCTION ${s}.feed_boundary() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $truce$
  DECLARE
    last bigint;
    called boolean;
    oldest bigint;
  BEGIN
    BEGIN
      PERFORM pg_advisory_lock(${gate}, 0);
      SELECT last_value, is_called INTO last, called FROM ${s}.change_seq;
      IF NOT called THEN last := last - 1; END IF;
      SELECT min(last - ((last - l.objid::bigint) % 4294967296 + 4294967296) % 4294967296) INTO oldest
        FROM pg_catalog.pg_locks AS l
        WHERE l.locktype = 'advisory' AND l.classid = ${flight}::oid AND l.objsubid = 2 AND l.granted
          AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database());
    EXCEPTION WHEN OTHERS OR query_canceled THEN
      PERFORM pg_advisory_unlock(${gate}, 0);
      RAISE;
    END;
    PERFORM pg_advisory_unlock(${gate}, 0);
    RETURN least(last, oldest - 1);
  END
  $truce$;
  `;
}
