/** The gateway configuration after validation, with every default filled in (SPEC 5.1, 5.6). */

import type { AiConfig } from '../ai/types.js';

/** A host and port to listen on. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** One backend server of an upstream. */
export interface TargetConfig {
  /** `http://host:port` (no path), the key of its connection pool. */
  readonly origin: string;
  /** A path prefix the target's URL carried (`http://h:1/api` → `/api`), '' when none. */
  readonly basePath: string;
  readonly weight: number;
}

/** Active health checking of an upstream's targets. */
export interface HealthCheckConfig {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Successes in a row that bring a target back. */
  readonly healthy: number;
  /** Failures in a row that take a target out. */
  readonly unhealthy: number;
}

/** A named group of targets with its balancing, health and timeout policy. */
export interface UpstreamConfig {
  readonly name: string;
  readonly targets: readonly TargetConfig[];
  readonly balance: 'round-robin' | 'least-connections';
  readonly healthCheck: HealthCheckConfig | undefined;
  readonly passive: { readonly failures: number; readonly ejectForMs: number };
  readonly timeouts: { readonly connectMs: number; readonly responseMs: number };
  readonly retries: number;
}

/** A rate limit of a route. */
export interface RateLimitConfig {
  readonly limit: number;
  readonly windowMs: number;
  readonly by: 'consumer' | 'ip';
}

/** A route's API lifecycle dates (RFC 9745 Deprecation, RFC 8594 Sunset). */
export interface LifecycleConfig {
  /** Epoch ms. */
  readonly deprecated: number | undefined;
  readonly sunset: number | undefined;
  readonly link: string | undefined;
}

/** One route: what it matches and what it does with a match. */
export interface RouteConfig {
  readonly name: string;
  /** The prefix without a trailing slash ('' for `/`). */
  readonly prefix: string;
  /** Lower case, without a port. */
  readonly host: string | undefined;
  /** Upper case; undefined allows every method. */
  readonly methods: readonly string[] | undefined;
  readonly stripPrefix: boolean;
  readonly upstream: string;
  readonly auth: 'none' | 'key';
  readonly subscription: 'open' | 'approval';
  readonly rateLimit: RateLimitConfig | undefined;
  readonly requirePreconditions: 'off' | 'warn' | 'enforce';
  readonly resourceKey: string;
  readonly maxBody: number;
  readonly lifecycle: LifecycleConfig | undefined;
  /** An AI route (docs/ai.md): answered by model providers instead of `upstream`. */
  readonly ai: AiConfig | undefined;
}

/** An alert rule (SPEC 5.1). */
export interface AlertConfig {
  readonly name: string;
  readonly metric: 'conflict-rate' | 'error-rate' | 'p99' | 'hotspot';
  readonly route: string | undefined;
  readonly windowMs: number;
  readonly minSamples: number;
  readonly above: number;
  readonly webhook: string | undefined;
}

/** What the call log keeps, and for how long. */
export interface LogConfig {
  readonly bodies: number;
  /** Lower-case header names. */
  readonly redactHeaders: readonly string[];
  readonly redactPointers: readonly string[];
  readonly retention: { readonly callsMs: number; readonly rollupsMs: number; readonly maxCalls: number };
}

/** Cross-origin calls from browsers to the proxy. */
export interface CorsConfig {
  /** Exact origins as browsers send them in `Origin`. */
  readonly origins: ReadonlySet<string>;
  /** Seconds a preflight answer may be cached. */
  readonly maxAgeSeconds: number;
}

/** The whole gateway configuration. */
export interface GatewayConfig {
  readonly listen: ListenAddress;
  readonly admin: { readonly listen: ListenAddress; readonly key: string } | undefined;
  readonly storage: string;
  readonly rateLimitStore: string;
  readonly workers: number;
  /** Origins allowed to call the proxy from browsers (SPEC 5.1 is silent; docs/gateway.md). */
  readonly cors: CorsConfig | undefined;
  readonly log: LogConfig;
  readonly upstreams: ReadonlyMap<string, UpstreamConfig>;
  readonly routes: readonly RouteConfig[];
  readonly alerts: readonly AlertConfig[];
  /** Folder relative storage paths resolve against. */
  readonly baseDir: string;
}

/** One problem found in a configuration, with the JSON Pointer of the value at fault. */
export interface GatewayConfigIssue {
  readonly pointer: string;
  readonly message: string;
}
