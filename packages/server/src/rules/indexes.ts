import type { CollectionConfig, TruceConfig } from '../config/types.js';
import type { Store } from '../store/types.js';
import { referencesOf } from './references.js';
import { uniqueKeysOf } from './unique.js';

/**
 * Bumped whenever the encoding of unique keys or references changes (e.g. case folding), so that
 * stores re-derive them from the documents.
 */
const INDEX_FORMAT = 1;

/** What a collection's unique keys and references are derived from. */
export function indexFingerprint(collection: CollectionConfig): string {
  return JSON.stringify({
    format: INDEX_FORMAT,
    unique: collection.unique.map((u) => [u.name, u.fields, u.caseInsensitive]),
    references: collection.references.map((r) => [r.field, r.collection]),
  });
}

/** Raised at start-up when existing data breaks constraints the configuration now declares. */
export class IndexConflictError extends Error {
  override readonly name = 'IndexConflictError';
  constructor(readonly problems: readonly string[]) {
    super(
      `the data does not satisfy the configured constraints:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
}

/**
 * Brings every collection's unique keys and references in line with the configuration. A store
 * remembers what it indexed them from; when a constraint is added, changed or dropped, the keys of
 * every live document are derived again in one transaction. Existing data that breaks a new
 * constraint stops the start with the list of offending resources, instead of a constraint that
 * silently ignores the documents written before it.
 */
export async function ensureIndexes(config: TruceConfig, store: Store): Promise<void> {
  const problems: string[] = [];
  for (const collection of config.collections.values()) {
    const fingerprint = indexFingerprint(collection);
    if ((await store.indexFingerprint(collection.name)) === fingerprint) continue;
    const result = await store.reindex(collection.name, fingerprint, (_id, doc) => ({
      uniqueKeys: uniqueKeysOf(collection, doc) ?? [],
      references: referencesOf(collection, doc) ?? [],
    }));
    if (result.ok) continue;
    for (const c of result.collisions) {
      const fields =
        collection.unique.find((u) => u.name === c.constraint)?.fields.join(' + ') ?? c.constraint;
      problems.push(
        `${collection.name}: ${fields} ${c.key} is held by ${c.ids.map((id) => `${collection.name}/${id}`).join(', ')}`,
      );
    }
    for (const d of result.dangling) {
      problems.push(
        `${collection.name}/${d.id}: ${d.reference.pointer.slice(1)} refers to ${d.reference.collection}/${d.reference.id}, which does not exist`,
      );
    }
  }
  if (problems.length > 0) throw new IndexConflictError(problems);
}
