import type Database from 'better-sqlite3';

/** The SQLite side of Store.feedFloor and Store.pruneChanges. */
export interface SqliteFeedRetention {
  floor(): number;
  prune(upTo: number, limit: number): number;
}

/**
 * Change-feed retention. Version history is a chain through the change rows (schema.ts), so a row
 * that a resource's retained history still reaches (version >= the head's history_from) is never
 * removed; every other row at or below `upTo` may be. The floor moves to `upTo` in the same
 * transaction, since from then on the feed below it has gaps: readers asking for changes after an
 * older position get 410 instead of a feed with holes.
 */
export function createFeedRetention(db: Database.Database): SqliteFeedRetention {
  const readFloor = db.prepare<[], { seq: number }>('SELECT seq FROM feed_floor WHERE one = 1');
  const raiseFloor = db.prepare<[number], void>('UPDATE feed_floor SET seq = max(seq, ?) WHERE one = 1');
  const prunable = db.prepare<[number, number], void>(
    `DELETE FROM changes WHERE seq IN (
       SELECT c.seq FROM changes AS c JOIN heads AS h ON h.collection = c.collection AND h.id = c.id
       WHERE c.seq <= ? AND c.version < h.history_from
       ORDER BY c.seq LIMIT ?)`,
  );
  const prune = db.transaction((upTo: number, limit: number): number => {
    raiseFloor.run(upTo);
    return prunable.run(upTo, limit).changes;
  });
  return {
    floor: () => readFloor.get()?.seq ?? 0,
    prune: (upTo, limit) => prune.immediate(upTo, limit),
  };
}
