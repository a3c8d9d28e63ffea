import { createHash, randomBytes } from 'node:crypto';
import type { RouteConfig } from '../config/types.js';
import { gatewayProblem } from '../problems/answer.js';
import type { AccessControl, Consumer } from '../proxy/policies.js';
import type { GatewayStore } from '../store/types.js';

/** Presented keys whose hash is remembered at most; past this the memo starts over. */
const MAX_HASHES = 10_000;

/** Keys are `truce_` and 256 random bits in base64url: far past the 128 bits SPEC 5.2 asks for. */
const KEY_PREFIX = 'truce_';

/** A new API key, its hash (what is stored) and its display prefix (what lists show). */
export function generateKey(): { key: string; hash: string; prefix: string } {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, hash: hashKey(key), prefix: key.slice(0, KEY_PREFIX.length + 6) };
}

/**
 * The stored form of a key: SHA-256. The key is 256 random bits, so a fast unsalted hash is as
 * strong as a slow salted one, and a lookup by hash needs no comparison of secrets at all.
 */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Key authentication backed by the gateway store. Every request of an `auth: key` route asks the
 * store for the key, its consumer and its subscription to the route; the store answers from its
 * cache only while nothing has changed since (SQLite), or reads them in one query (PostgreSQL), so a
 * deleted key or consumer and a revoked subscription stop the very next request, in every process
 * sharing the store.
 */
export class StoreAccessControl implements AccessControl {
  /**
   * Presented key -> its hash, so a client's key is hashed once, not on every request (SHA-256 was
   * about 5 µs a request). A memo of a pure function, so it can never be stale; bounded, and it
   * only ever holds keys of this process's recent requests, which are in its memory anyway.
   */
  private readonly hashes = new Map<string, string>();

  constructor(private readonly store: GatewayStore) {}

  private hashOf(key: string): string {
    let hash = this.hashes.get(key);
    if (hash === undefined) {
      hash = hashKey(key);
      if (this.hashes.size >= MAX_HASHES) this.hashes.clear();
      this.hashes.set(key, hash);
    }
    return hash;
  }

  async authenticate(route: RouteConfig, key: string | undefined): Promise<Consumer> {
    const challenge = { 'www-authenticate': `Bearer realm="truce-gateway"` };
    if (key === undefined) {
      throw gatewayProblem(
        'unauthenticated',
        `Route ${route.name} needs an API key: send Authorization: Bearer <key> or X-Api-Key.`,
        {},
        challenge,
      );
    }
    const found =
      key.length <= 200 ? await this.store.lookupKey(this.hashOf(key), route.name, Date.now()) : undefined;
    if (!found) {
      throw gatewayProblem(
        'unauthenticated',
        'The API key is not known to this gateway (or was deleted).',
        {},
        {
          'www-authenticate': `Bearer realm="truce-gateway", error="invalid_token"`,
        },
      );
    }
    if (route.subscription === 'approval' && found.subscription !== 'approved') {
      const status = found.subscription ?? 'none';
      throw gatewayProblem(
        'subscription-required',
        status === 'none'
          ? `${found.consumer.name} has no subscription to route ${route.name}; request one from the operator.`
          : `${found.consumer.name}'s subscription to route ${route.name} is ${status}.`,
        { subscription: status, route: route.name },
      );
    }
    return { id: found.consumer.id, name: found.consumer.name };
  }
}
