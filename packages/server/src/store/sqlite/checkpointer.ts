import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/*
 * Checkpoints off the request path.
 *
 * In WAL mode a commit appends pages to the -wal file; a checkpoint copies them back into the
 * database file, fsyncing both. By default SQLite checkpoints inside the COMMIT that pushes the WAL
 * past 1000 pages, on the connection that commits: better-sqlite3 is synchronous, so the event loop
 * stood still for the copy and the fsyncs, which was most of the write path's p99.
 *
 * Instead, once a store has committed a little (small, short-lived stores never pay for a thread),
 * a worker thread opens its own connection to the file and the main connection turns automatic
 * checkpoints off. The worker, every few tens of milliseconds when something was committed:
 *
 * 1. runs a PASSIVE checkpoint: it copies what it can while the main thread keeps committing. It
 *    cannot finish: the frames appended meanwhile are never all copied, and SQLite only starts the
 *    WAL over (writes from its beginning again) when a writer finds every frame copied. A loop of
 *    passive checkpoints alone lets the WAL grow without bound under sustained writes.
 * 2. when the WAL holds {@link RESET_PAGES} pages or more, copies once more (a short pass: only
 *    what step 1 left), then asks the main thread for a quiet moment. The main thread holds new
 *    transactions back (GroupCommit.pause: reads go on, and nothing on the event loop waits) and
 *    says so; with no writer, a last PASSIVE checkpoint copies every frame; the main thread lets
 *    the held writes go, and its next commit starts the WAL over from the beginning. The quiet
 *    moment costs the two fsyncs of that last pass, a few milliseconds, about once a second under
 *    sustained writes.
 *
 * A reader that still uses the WAL (only another process's: this process's reads never overlap its
 * writes) keeps it from starting over. Should that keep happening until the WAL is twice the
 * threshold, the quiet moment uses RESTART instead, which waits (up to RESTART_BUSY_MS) for such
 * readers to leave the WAL.
 *
 * Durability does not depend on checkpoints: a committed transaction is in the WAL whether or not
 * it has been copied yet (see the comment in sqlite-store.ts). If the worker cannot start or dies,
 * the main connection goes back to SQLite's automatic checkpoints.
 *
 * Several processes on one file each run their own checkpointer; SQLite lets one checkpoint run at
 * a time, and one that finds another running just tries again later.
 */

/**
 * WAL size, in pages, at which the checkpointer starts the WAL over (32 MiB at the default 4 KiB
 * pages). Each reset holds writes back for a moment; the bigger the WAL may grow, the rarer that is.
 */
export const RESET_PAGES = 8192;
/** Transactions committed before the worker is started. */
const START_AFTER_COMMITS = 200;
/**
 * How often the worker checkpoints when something was committed: rarely enough that a page written
 * many times in between is copied once (the copying takes CPU the main thread could use), often
 * enough that the WAL does not overshoot RESET_PAGES by much.
 */
const INTERVAL_MS = 50;
/** How long a RESTART checkpoint may wait for writers of other processes and for readers (see above). */
const RESTART_BUSY_MS = 100;
/** The longest the main thread holds writes back for the worker, should it not answer. */
const MAX_PAUSE_MS = 1000;
/** SQLite's own default, restored when the worker is gone. */
const DEFAULT_AUTOCHECKPOINT = 1000;

/** Messages from the worker. */
type FromWorker = { type: 'ready' } | { type: 'pause' } | { type: 'resume' };

/*
 * The worker's code. A string evaluated by the Worker rather than a module file next to this one,
 * so that it runs the same from the compiled package and from the TypeScript sources under test.
 * It loads the driver by the path the main thread resolved.
 */
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const { path, synchronous, resetPages, intervalMs, busyTimeoutMs } = workerData;
const commits = new Int32Array(workerData.commits);
const db = new Database(path, { timeout: busyTimeoutMs });
db.pragma('synchronous = ' + synchronous);
let closing = false;
let wake = () => {};
let paused = () => {};
parentPort.on('message', (message) => {
  if (message.type === 'paused') paused();
  if (message.type === 'close') {
    closing = true;
    wake();
    paused();
  }
});
const sleep = (ms) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });
async function run() {
  parentPort.postMessage({ type: 'ready' });
  let seen = Atomics.load(commits, 0);
  while (!closing) {
    await sleep(intervalMs);
    const now = Atomics.load(commits, 0);
    if (closing || now === seen) continue;
    seen = now;
    const [{ log }] = db.pragma('wal_checkpoint(PASSIVE)');
    if (log < resetPages) continue;
    // Once more: this pass copies only what the first one left, so the quiet moment is shorter.
    db.pragma('wal_checkpoint(PASSIVE)');
    await new Promise((resolve) => {
      paused = resolve;
      parentPort.postMessage({ type: 'pause' });
    });
    try {
      // With this process's writer held back, PASSIVE copies every frame, and the next commit
      // starts the WAL over. RESTART would also wait for readers to leave the WAL, sleeping a
      // millisecond or more whenever one of this process's reads is under way, while writes
      // wait; only if resets keep failing (readers of other processes) is that worth it.
      if (!closing) db.pragma(log < 2 * resetPages ? 'wal_checkpoint(PASSIVE)' : 'wal_checkpoint(RESTART)');
    } finally {
      parentPort.postMessage({ type: 'resume' });
    }
  }
  db.close();
  parentPort.close();
}
run();
`;

/** Options of {@link Checkpointer}. */
export interface CheckpointerOptions {
  /** The database file. */
  readonly path: string;
  readonly synchronous: 'NORMAL' | 'FULL';
  /** Holds the connection's write transactions back; called from the event loop, between them. */
  readonly pause: () => void;
  /** Lets them go again. */
  readonly resume: () => void;
}

/** Runs the WAL checkpoints of one file-backed connection in a worker thread (see above). */
export class Checkpointer {
  readonly #db: Database.Database;
  readonly #options: CheckpointerOptions;
  /** Transactions committed by the main connection, shared with the worker, which polls it. */
  readonly #commits = new Int32Array(new SharedArrayBuffer(4));
  #worker: Worker | undefined;
  #state: 'waiting' | 'running' | 'gone' = 'waiting';
  #pauseTimer: NodeJS.Timeout | undefined;

  constructor(db: Database.Database, options: CheckpointerOptions) {
    this.#db = db;
    this.#options = options;
  }

  /** Call after every committed transaction. */
  noteCommit(): void {
    const commits = Atomics.add(this.#commits, 0, 1) + 1;
    if (this.#state === 'waiting' && commits >= START_AFTER_COMMITS) this.#start();
  }

  /** Stops the worker and waits for it to close its connection; the main connection is the caller's. */
  async close(): Promise<void> {
    const worker = this.#worker;
    this.#stop();
    if (worker === undefined) return;
    const exited = new Promise<void>((done) => worker.once('exit', () => done()));
    worker.postMessage({ type: 'close' });
    const timer = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(timer);
  }

  #start(): void {
    this.#state = 'running';
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          driver: createRequire(import.meta.url).resolve('better-sqlite3'),
          path: resolve(this.#options.path),
          synchronous: this.#options.synchronous,
          resetPages: RESET_PAGES,
          intervalMs: INTERVAL_MS,
          busyTimeoutMs: RESTART_BUSY_MS,
          commits: this.#commits.buffer,
        },
      });
    } catch (error) {
      this.#fail(error);
      return;
    }
    this.#worker = worker;
    // The store, not the worker, decides how long the process lives.
    worker.unref();
    worker.on('message', (message: FromWorker) => this.#onMessage(worker, message));
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', () => {
      if (this.#state === 'running') this.#fail(new Error('The checkpoint worker exited.'));
    });
  }

  #onMessage(worker: Worker, message: FromWorker): void {
    if (this.#state !== 'running') return;
    switch (message.type) {
      case 'ready':
        // From now on the worker checkpoints; COMMIT on this thread never does.
        this.#db.pragma('wal_autocheckpoint = 0');
        break;
      case 'pause':
        // A message is handled between two turns of the event loop, never inside a transaction
        // (they run synchronously), so there is no writer on this connection from here on.
        this.#options.pause();
        this.#pauseTimer = setTimeout(() => this.#resume(), MAX_PAUSE_MS);
        this.#pauseTimer.unref();
        worker.postMessage({ type: 'paused' });
        break;
      case 'resume':
        this.#resume();
        break;
    }
  }

  #resume(): void {
    clearTimeout(this.#pauseTimer);
    this.#pauseTimer = undefined;
    this.#options.resume();
  }

  /** No worker: SQLite checkpoints inside COMMIT again, as it does by default. */
  #fail(error: unknown): void {
    if (this.#state !== 'running') return;
    this.#stop();
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
    process.emitWarning(`SQLite checkpoints run on the main thread again: ${String(error)}`);
  }

  #stop(): void {
    this.#state = 'gone';
    this.#worker = undefined;
    if (this.#pauseTimer !== undefined) this.#resume();
  }
}
