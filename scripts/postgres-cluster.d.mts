// Types for postgres-cluster.mjs, which stays plain JavaScript so benchmarks and scripts run it as is.

/** Receives one line of progress. */
export type Log = (message: string) => void;

/** A running throwaway cluster. */
export interface PostgresCluster {
  /** `postgres://postgres@127.0.0.1:PORT/truce` (trust authentication, no password). */
  url: string;
  port: number;
  dataDir: string;
  binDir: string;
  /** The server's log (pg_ctl -l). */
  logFile: string;
  /** The postmaster's process id from postmaster.pid, or null when there is no such file. */
  pid: () => number | null;
  /**
   * Starts the server again on the same data directory and port, after it stopped or was killed
   * (PostgreSQL runs crash recovery first); rejects while it still runs or after stop().
   */
  restart: () => Promise<void>;
  /** Stops the server and removes its folder; calling it again does nothing. */
  stop: () => Promise<void>;
}

/** Installs PostgreSQL with apt-get without a default Debian cluster; throws when that fails. */
export function installPostgres(options?: { log?: Log }): Promise<void>;

/** The server binaries' folder, or the reason there is none. */
export function locatePostgresBin(options?: {
  install?: boolean;
  log?: Log;
}): Promise<{ binDir: string; reason: null } | { binDir: null; reason: string }>;

/** The server binaries' folder, or null after logging why. */
export function findPostgresBin(options?: { install?: boolean; log?: Log }): Promise<string | null>;

/** Starts a throwaway cluster on 127.0.0.1 and a free port, with a database `truce`. */
export function startPostgresCluster(options?: {
  log?: Log;
  settings?: Record<string, string | number | boolean>;
  binDir?: string;
}): Promise<PostgresCluster>;
