// Types for redis-server.mjs, which stays plain JavaScript so scripts run it as is.

/** Receives one line of progress. */
export type Log = (message: string) => void;

/** A running throwaway Redis. */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT` (no password, loopback only). */
  url: string;
  port: number;
  /** The redis-server process, for tests that kill it. */
  pid: number;
  dir: string;
  /** Stops the server and removes its folder; calling it again does nothing. */
  stop: () => Promise<void>;
}

/** Installs redis-server with apt-get, leaving Debian's service stopped and disabled. */
export function installRedis(options?: { log?: Log }): Promise<void>;

/** The redis-server binary, or the reason there is none. */
export function locateRedisServer(options?: {
  install?: boolean;
  log?: Log;
}): Promise<{ binary: string; reason: null } | { binary: null; reason: string }>;

/** Starts a throwaway Redis on 127.0.0.1 and a free port (or `port`), without persistence. */
export function startRedisServer(options?: {
  log?: Log;
  binary?: string;
  port?: number;
}): Promise<RedisServer>;
