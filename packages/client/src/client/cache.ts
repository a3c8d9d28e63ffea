/**
 * ETag tracking per resource (SPEC 4: "It remembers the ETag of what it read"): the last
 * representation this client read or wrote at each URL, with its strong ETag, so that writes can
 * send `If-Match`, reads can send `If-None-Match`, and `update` can start from what was last seen.
 * Bounded: the least recently used entries go first.
 */
import type { JsonObject } from '@truce/protocol';

/** A representation as last seen, with its strong ETag. */
export interface CachedResource {
  readonly etag: string;
  readonly data: JsonObject;
}

/** A least-recently-used map from resource path to {@link CachedResource}. */
export class ResourceCache {
  readonly #entries = new Map<string, CachedResource>();

  constructor(readonly max: number) {}

  get(path: string): CachedResource | undefined {
    const entry = this.#entries.get(path);
    if (entry !== undefined) {
      // Map keeps insertion order: re-inserting makes this the most recently used.
      this.#entries.delete(path);
      this.#entries.set(path, entry);
    }
    return entry;
  }

  set(path: string, etag: string, data: JsonObject): void {
    if (this.max <= 0) return;
    this.#entries.delete(path);
    this.#entries.set(path, { etag, data });
    if (this.#entries.size > this.max) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
  }

  delete(path: string): void {
    this.#entries.delete(path);
  }

  clear(): void {
    this.#entries.clear();
  }
}
