/** What the gateway keeps besides the call log: consumers, their keys, subscriptions, the audit log. */

/** A consumer of the APIs behind the gateway; names are unique. */
export interface ConsumerRow {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
}

/** An API key as listed: never the key itself, which is only shown once at creation. */
export interface KeyRow {
  readonly id: string;
  readonly consumerId: string;
  readonly prefix: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
}

/** Where a consumer's access to a route stands (SPEC 5.6). */
export type SubscriptionStatus = 'pending' | 'approved' | 'rejected' | 'revoked';

/** A consumer's subscription to one route. */
export interface SubscriptionRow {
  readonly id: string;
  readonly consumerId: string;
  readonly consumer: string;
  readonly route: string;
  readonly status: SubscriptionStatus;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One admin change. */
export interface AuditRow {
  readonly id: number;
  readonly time: number;
  readonly action: string;
  readonly target: string;
  readonly detail: Record<string, unknown>;
}

/** A page of a list, with the cursor of the next one. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly next: string | null;
}

/** What a key resolves to on a route, in one read. */
export interface KeyLookup {
  readonly consumer: ConsumerRow;
  readonly keyId: string;
  /** The consumer's subscription to the route, or null when it has none. */
  readonly subscription: SubscriptionStatus | null;
}

/** The subscription actions and the statuses they lead from and to (SPEC 5.6). */
export const SUBSCRIPTION_ACTIONS = {
  approve: { from: ['pending', 'rejected', 'revoked'], to: 'approved' },
  reject: { from: ['pending'], to: 'rejected' },
  revoke: { from: ['approved'], to: 'revoked' },
} as const satisfies Record<string, { from: readonly SubscriptionStatus[]; to: SubscriptionStatus }>;

/** An action on a subscription. */
export type SubscriptionAction = keyof typeof SUBSCRIPTION_ACTIONS;

/** The outcome of a subscription action. */
export type TransitionResult =
  | { readonly ok: true; readonly subscription: SubscriptionRow }
  | { readonly ok: false; readonly reason: 'not-found' }
  | { readonly ok: false; readonly reason: 'invalid-transition'; readonly current: SubscriptionStatus };

/**
 * The gateway's own data. Every method is one transaction, and every change to consumers, keys and
 * subscriptions is audited in the same transaction. Reads see other processes' commits at once, so
 * a revocation made through one gateway process stops the very next request through any other.
 */
export interface GatewayStore {
  createConsumer(name: string, now: number): Promise<ConsumerRow | 'taken'>;
  /** By id or by name (SPEC 5.6). */
  consumer(idOrName: string): Promise<ConsumerRow | undefined>;
  consumers(limit: number, cursor: string | undefined): Promise<Page<ConsumerRow>>;
  deleteConsumer(id: string, now: number): Promise<boolean>;

  /** Stores the hash of a new key; the key itself is the caller's to show once. */
  addKey(consumerId: string, hash: string, prefix: string, now: number): Promise<KeyRow | undefined>;
  keys(consumerId: string, limit: number, cursor: string | undefined): Promise<Page<KeyRow>>;
  deleteKey(consumerId: string, keyId: string, now: number): Promise<boolean>;
  /** The consumer and subscription a key hash stands for on `route`, or undefined for an unknown key. */
  lookupKey(hash: string, route: string, now: number): Promise<KeyLookup | undefined>;

  /** A new subscription in `status`; 'exists' when the consumer already has one to the route. */
  subscribe(
    consumerId: string,
    route: string,
    status: SubscriptionStatus,
    now: number,
  ): Promise<SubscriptionRow | 'exists'>;
  subscription(id: string): Promise<SubscriptionRow | undefined>;
  subscriptions(
    filter: {
      status?: SubscriptionStatus | undefined;
      consumerId?: string | undefined;
      route?: string | undefined;
    },
    limit: number,
    cursor: string | undefined,
  ): Promise<Page<SubscriptionRow>>;
  transitionSubscription(id: string, action: SubscriptionAction, now: number): Promise<TransitionResult>;

  audit(limit: number, cursor: string | undefined): Promise<Page<AuditRow>>;
  close(): Promise<void>;
}
