import { createClient, isConflictError, isProblem, type Client } from '@truce/client';

/** The built-in load of `truce dev --traffic`. */
export interface Traffic {
  /** Stops every client and waits (bounded) for the operations in flight. */
  stop(): Promise<void>;
  /** One line on who is sending what. */
  describe(): string;
  /** Operations finished so far, by client. */
  readonly counts: Readonly<Record<string, number>>;
}

export interface TrafficOptions {
  /** The gateway's proxy URL. */
  readonly proxyUrl: string;
  /** API keys by consumer name: `web-shop`, `mobile-app` and `stock-sync`. */
  readonly keys: Readonly<Record<string, string>>;
  /** Called with unexpected failures (never with the conflicts this load provokes on purpose). */
  readonly onError: (line: string) => void;
  /** Scales every pause between operations (1 = about 10 requests per second in all). */
  readonly pace?: number;
}

/** The products the shop clients share, so that they race on them. */
const PRODUCTS = [
  { id: 'mug', sku: 'MUG-01', name: 'Truce mug', price: 12, stock: 400 },
  { id: 'tee', sku: 'TEE-01', name: 'Truce T-shirt', price: 24, stock: 250 },
  { id: 'cap', sku: 'CAP-01', name: 'Truce cap', price: 18, stock: 150 },
  { id: 'pen', sku: 'PEN-01', name: 'Truce pen', price: 3, stock: 900 },
] as const;
const HANDBOOK = 'handbook';

interface Product {
  sku: string;
  name: string;
  price: number;
  stock: number;
}

/**
 * Starts the shop's clients against the gateway's `/shop` and `/catalogue` routes:
 * - `web-shop` (careful): read-modify-write price changes with `update` (If-Match, three-way merge
 *   on a conflict), purchases with `increment`, and handbook edits that merge with the others';
 * - `mobile-app` (careless): overwrites products without a precondition (the guard warns and the
 *   call log counts them as unconditional), and resends a refused stale write unchanged (a blind
 *   retry);
 * - `stock-sync` (slow): reads stock, works a while, then writes with the ETag it read, so it often
 *   meets 412 `stale-write`; it re-reads and tries again, and restocks sold-out products;
 * - anonymous catalogue readers, on the open route.
 */
export function startTraffic(options: TrafficOptions): Traffic {
  const pace = options.pace ?? 1;
  const abort = new AbortController();
  const counts: Record<string, number> = {};
  const lastError = new Map<string, number>();
  const client = (consumer: string): Client =>
    createClient({
      baseUrl: `${options.proxyUrl}/shop`,
      headers: { 'x-api-key': options.keys[consumer] ?? '', 'truce-actor': consumer },
      timeout: 10_000,
    });
  const web = client('web-shop');
  const sync = client('stock-sync');
  const catalogue = createClient({ baseUrl: `${options.proxyUrl}/catalogue`, timeout: 10_000 });

  const report = (who: string, error: unknown) => {
    if (abort.signal.aborted) return;
    const line = `${who}: ${(error as Error).message}`;
    const now = Date.now();
    if ((lastError.get(who) ?? 0) + 10_000 > now) return; // at most one line per client per 10 s
    lastError.set(who, now);
    options.onError(`traffic ${line}`);
  };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms * pace * (0.5 + Math.random()));
      abort.signal.addEventListener('abort', done, { once: true });
    });
  const pick = () => PRODUCTS[Math.floor(Math.random() * PRODUCTS.length)]!;
  const signal = abort.signal;

  const loop = async (who: string, interval: number, step: () => Promise<void>) => {
    while (!signal.aborted) {
      try {
        await step();
      } catch (error) {
        // Conflicts are what this load is for; anything else is worth a line.
        if (!isProblem(error) && !isConflictError(error)) report(who, error);
        else if (isProblem(error) && error.status >= 500) report(who, error);
      }
      counts[who] = (counts[who] ?? 0) + 1;
      await pause(interval);
    }
  };

  const seed = async () => {
    for (const { id, ...product } of PRODUCTS) {
      try {
        await web.create('products', { id, ...product }, { signal });
      } catch (error) {
        if (!isProblem(error, ['already-exists', 'unique-violation'])) throw error;
      }
    }
    try {
      await web.create('documents', { id: HANDBOOK, title: 'Shop handbook', body: '', tags: [] }, { signal });
    } catch (error) {
      if (!isProblem(error, ['already-exists', 'unique-violation'])) throw error;
    }
  };

  const running = (async () => {
    try {
      await seed();
    } catch (error) {
      report('seed', error);
    }
    await Promise.all([
      loop('web-shop', 500, async () => {
        const product = pick();
        const roll = Math.random();
        if (roll < 0.5) {
          await web.update<'products'>(
            'products',
            product.id,
            (p) => {
              const current = p as unknown as Product;
              current.price = Math.max(1, Math.round(current.price * (0.9 + Math.random() * 0.2)));
            },
            { signal, resolve: () => 'theirs' },
          );
        } else if (roll < 0.85) {
          await web.increment('products', product.id, '/stock', -1, { signal });
        } else {
          await web.update(
            'documents',
            HANDBOOK,
            (doc) => {
              const d = doc as { tags?: string[] };
              d.tags = [...new Set([...(d.tags ?? []), `tag-${Math.floor(Math.random() * 20)}`])].slice(-10);
            },
            { signal },
          );
        }
      }),
      loop('mobile-app', 700, async () => {
        // A hand-written client, without the SDK: it reads, then overwrites without a
        // precondition; or it writes with an ETag it kept from a while ago and, refused as stale,
        // sends the same write again without reading (a blind retry).
        const product = pick();
        const url = `${options.proxyUrl}/shop/products/${product.id}`;
        const headers = { 'x-api-key': options.keys['mobile-app'] ?? '', 'truce-actor': 'mobile-app' };
        const read = await fetch(url, { headers, signal });
        if (!read.ok) throw new Error(`GET ${product.id}: ${read.status}`);
        const current = (await read.json()) as Product & Record<string, unknown>;
        const etag = read.headers.get('etag');
        const body = JSON.stringify({
          sku: current.sku,
          name: `${product.name} (${new Date().toISOString().slice(11, 19)})`,
          price: current.price,
          stock: current.stock,
        });
        const put = (ifMatch?: string) =>
          fetch(url, {
            method: 'PUT',
            headers: {
              ...headers,
              'content-type': 'application/json',
              ...(ifMatch ? { 'if-match': ifMatch } : {}),
            },
            body,
            signal,
          });
        if (Math.random() < 0.7 || !etag) {
          await (await put()).body?.cancel();
          return;
        }
        await pause(400);
        const first = await put(etag);
        await first.body?.cancel();
        if (first.status === 412) await (await put(etag)).body?.cancel();
      }),
      loop('stock-sync', 900, async () => {
        const product = pick();
        for (let attempt = 0; attempt < 3 && !signal.aborted; attempt++) {
          const { data, etag } = await sync.get('products', product.id, { signal });
          const current = data as unknown as Product;
          await pause(300); // counting the warehouse shelves
          const stock = current.stock < 20 ? current.stock + 200 : current.stock;
          try {
            await sync.replace('products', product.id, { ...current, stock } as never, {
              ...(etag ? { ifMatch: etag } : {}),
              signal,
            });
            return;
          } catch (error) {
            if (!isProblem(error, ['stale-write', 'version-conflict'])) throw error;
          }
        }
      }),
      loop('catalogue', 300, async () => {
        if (Math.random() < 0.5) await catalogue.list('products', { signal });
        else await catalogue.get('products', pick().id, { signal });
      }),
    ]);
  })();

  return {
    counts,
    describe: () =>
      'web-shop (If-Match, merges), mobile-app (unconditional writes, blind retries), stock-sync (slow read-then-write: 412s), catalogue readers',
    stop: async () => {
      abort.abort();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((resolve) => (timer = setTimeout(resolve, 5_000)))]);
      clearTimeout(timer);
    },
  };
}
