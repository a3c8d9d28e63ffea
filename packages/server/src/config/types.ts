import type { CompiledMergePolicy, MergePolicy } from '@truce/protocol';
import type { JsonObject } from '../store/types.js';
import type { DurationInput } from './duration.js';

/** A state value: what the state field holds. */
export type StateValue = string | number | boolean;

/** One collection as written in the configuration file. */
export interface CollectionConfigInput {
  readonly description?: string;
  readonly schema?: JsonObject;
  readonly requirePreconditions?: boolean;
  readonly staleWriteStatus?: 409 | 412;
  readonly lockedStatus?: 409 | 423;
  readonly history?: { readonly keep?: number };
  readonly unique?: readonly {
    readonly name?: string;
    readonly fields: readonly string[];
    readonly caseInsensitive?: boolean;
  }[];
  readonly states?: {
    readonly field: string;
    readonly initial: StateValue;
    readonly transitions: Readonly<
      Record<
        string,
        {
          readonly from: readonly StateValue[];
          readonly to: StateValue;
          readonly guard?: JsonObject;
          readonly description?: string;
        }
      >
    >;
  };
  readonly references?: Readonly<Record<string, string>>;
  readonly rules?: readonly {
    readonly name: string;
    readonly schema: JsonObject;
    readonly message?: string;
  }[];
  readonly merge?: MergePolicy;
}

/** A unique constraint with its name resolved. */
export interface UniqueConstraint {
  readonly name: string;
  readonly fields: readonly string[];
  readonly caseInsensitive: boolean;
}

/** A named transition of a state machine. */
export interface Transition {
  readonly name: string;
  readonly from: readonly StateValue[];
  readonly to: StateValue;
  readonly guard: JsonObject | undefined;
  readonly description: string | undefined;
}

/** A state machine on one field. */
export interface StateMachine {
  readonly field: string;
  readonly initial: StateValue;
  /** In configuration order. */
  readonly transitions: ReadonlyMap<string, Transition>;
}

/** A collection rule: a JSON Schema the document must satisfy after every write. */
export interface Rule {
  readonly name: string;
  readonly schema: JsonObject;
  readonly message: string;
}

/** The configuration file as written (SPEC section 2), after schema validation. */
export interface TruceConfigInput {
  readonly listen?: string;
  readonly storage?: string;
  readonly durability?: 'normal' | 'strict';
  readonly postgres?: {
    readonly schema?: string;
    readonly poolSize?: number;
    readonly groupCommit?: {
      readonly window?: DurationInput;
      readonly maxWrites?: number;
      readonly maxGroups?: number;
    };
  };
  readonly actorHeader?: string;
  readonly bodyLimit?: number;
  readonly problemTypeBase?: string;
  readonly idempotency?: { readonly ttl?: number };
  readonly changeFeed?: { readonly keep?: number };
  readonly cors?: { readonly origins: readonly string[]; readonly maxAge?: number };
  readonly timeouts?: {
    readonly request?: DurationInput;
    readonly bodyIdle?: DurationInput;
    readonly keepAlive?: DurationInput;
    readonly drain?: DurationInput;
  };
  readonly collections: Readonly<Record<string, CollectionConfigInput>>;
}

/** A collection with every default filled in. */
export interface CollectionConfig {
  readonly name: string;
  readonly description: string | undefined;
  readonly schema: JsonObject | undefined;
  readonly requirePreconditions: boolean;
  readonly staleWriteStatus: 409 | 412;
  /** Status of `locked` problems (SPEC 3.4): 423 unless the collection asks for 409. */
  readonly lockedStatus: 409 | 423;
  readonly historyKeep: number;
  readonly unique: readonly UniqueConstraint[];
  readonly states: StateMachine | undefined;
  /** Reference fields, in configuration order. */
  readonly references: readonly { readonly field: string; readonly collection: string }[];
  readonly rules: readonly Rule[];
  /** How Truce-Base edits merge (SPEC 3.7); arrays whole and strings atomic unless it says otherwise. */
  readonly merge: CompiledMergePolicy;
}

/** The resolved configuration the server runs with. */
export interface TruceConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly storage: string;
  readonly durability: 'normal' | 'strict';
  /** Settings of a `postgres://` storage. */
  readonly postgres: {
    readonly schema: string;
    readonly poolSize: number;
    /** How writes share transactions (store/postgres/group-commit.ts). */
    readonly groupCommit: {
      readonly windowMs: number;
      readonly maxWrites: number;
      readonly maxGroups: number;
    };
  };
  /** Lower-cased request header name. */
  readonly actorHeader: string;
  /** The actor header as configured, for messages and documents. */
  readonly actorHeaderName: string;
  readonly bodyLimit: number;
  /** How many changes the feed keeps (older ones are pruned; readers behind them get 410). */
  readonly changeFeedKeep: number;
  /** How long an Idempotency-Key is remembered, in milliseconds (default 24 hours). */
  readonly idempotencyTtlMs: number;
  /** Browser origins allowed to call the server, and how long preflights are cached (docs/http-api.md). */
  readonly cors: CorsConfig;
  /** Prefix of problem `type` URIs; undefined: `/_problems/` under the plugin's prefix. */
  readonly problemTypeBase: string | undefined;
  /** Connection timeouts, in milliseconds (see {@link Timeouts}). */
  readonly timeouts: Timeouts;
  readonly collections: ReadonlyMap<string, CollectionConfig>;
  /**
   * Folder a relative `sqlite:` path resolves against: the configuration file's folder for the
   * file's own `storage`, the working directory for `--storage`.
   */
  readonly baseDir: string;
}

/** Cross-origin access (`cors` in the configuration file). */
export interface CorsConfig {
  /** Exact serialised origins (`scheme://host[:port]`), compared with the Origin header as sent. */
  readonly origins: ReadonlySet<string>;
  /** Access-Control-Max-Age of preflight answers, in seconds. */
  readonly maxAge: number;
}

/** How long the server waits for a client, in milliseconds. */
export interface Timeouts {
  /** Longest time for a request's line, headers and body to arrive in full; then 408. */
  readonly requestMs: number;
  /** Longest silence while a request body is arriving; then 408. */
  readonly bodyIdleMs: number;
  /** How long an idle keep-alive connection stays open between requests. */
  readonly keepAliveMs: number;
  /** On shutdown, how long requests in flight may take before their connections are cut. */
  readonly drainMs: number;
}

/** One reason a configuration was refused, with the JSON Pointer of the offending value. */
export interface ConfigIssue {
  readonly pointer: string;
  readonly message: string;
}
