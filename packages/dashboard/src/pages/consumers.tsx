import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { time } from '../format';
import { useLoad } from '../hooks';

interface Consumer {
  id: string;
  name: string;
  createdAt: string;
}
interface Key {
  id: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}
interface Subscription {
  id: string;
  consumer: string;
  consumerName?: string;
  route: string;
  status: 'pending' | 'approved' | 'rejected' | 'revoked';
  [member: string]: unknown;
}
interface Route {
  name: string;
  auth: string;
}

const DONE = { approve: 'approved', reject: 'rejected', revoke: 'revoked' } as const;

const ACTIONS: Record<Subscription['status'], readonly ('approve' | 'reject' | 'revoke')[]> = {
  pending: ['approve', 'reject'],
  approved: ['revoke'],
  rejected: ['approve'],
  revoked: ['approve'],
};

/** Consumers with their keys (a new key is shown once) and subscriptions to approve, reject or revoke. */
export function Consumers() {
  const [message, setMessage] = useState<{ text: string; error: boolean } | undefined>(undefined);
  const [newKey, setNewKey] = useState<{ consumer: string; key: string } | undefined>(undefined);
  const [name, setName] = useState('');
  const [subscribe, setSubscribe] = useState({ consumer: '', route: '' });
  const data = useLoad(async (signal) => {
    const [consumers, subscriptions, routes] = await Promise.all([
      api<{ items: Consumer[] }>('/consumers?limit=1000', { signal }),
      api<{ items: Subscription[] }>('/subscriptions?limit=1000', { signal }),
      api<{ items: Route[] }>('/routes', { signal }),
    ]);
    const keys = await Promise.all(
      consumers.items.map((c) =>
        api<{ items: Key[] }>(`/consumers/${encodeURIComponent(c.id)}/keys`, { signal }),
      ),
    );
    return {
      consumers: consumers.items,
      keys: keys.map((k) => k.items),
      subscriptions: subscriptions.items,
      routes: routes.items.filter((r) => r.auth === 'key'),
    };
  }, []);
  const run = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
      setMessage({ text: what, error: false });
    } catch (e) {
      setMessage({ text: e instanceof ApiError ? e.message : String(e), error: true });
    }
    data.reload();
  };
  const nameOf = (id: string) => data.data?.consumers.find((c) => c.id === id)?.name ?? id;
  return (
    <section aria-labelledby="consumers-title">
      <h1 id="consumers-title">Consumers, keys and subscriptions</h1>
      {message && (
        <p role={message.error ? 'alert' : 'status'} class={message.error ? 'error' : 'note'}>
          {message.text}
        </p>
      )}
      {newKey && (
        <div class="panel new-key" role="status">
          <p>
            New key for <strong>{newKey.consumer}</strong>. It is shown only now: copy it.
          </p>
          <code class="key">{newKey.key}</code>{' '}
          <button type="button" onClick={() => setNewKey(undefined)}>
            I have copied it
          </button>
        </div>
      )}
      {data.error && (
        <p role="alert" class="error">
          Could not load the consumers: {data.error}
        </p>
      )}
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          if (!name) return;
          void run(`Consumer ${name} created.`, () =>
            api('/consumers', { method: 'POST', body: { name } }),
          ).then(() => setName(''));
        }}
      >
        <label>
          New consumer{' '}
          <input
            name="consumer-name"
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value.trim())}
            placeholder="name"
          />
        </label>
        <button type="submit">Create consumer</button>
      </form>
      <h2>Consumers</h2>
      <table>
        <caption class="visually-hidden">Consumers and their keys</caption>
        <thead>
          <tr>
            <th scope="col">Consumer</th>
            <th scope="col">Created</th>
            <th scope="col">Keys</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(data.data?.consumers ?? []).map((c, i) => (
            <tr>
              <th scope="row">{c.name}</th>
              <td>{time(c.createdAt)}</td>
              <td>
                <ul class="plain">
                  {(data.data?.keys[i] ?? []).map((k) => (
                    <li>
                      <code>{k.prefix}…</code> last used {k.lastUsedAt ? time(k.lastUsedAt) : 'never'}{' '}
                      <button
                        type="button"
                        aria-label={`Delete key ${k.prefix} of ${c.name}`}
                        onClick={() =>
                          void run(`Key ${k.prefix} of ${c.name} deleted.`, () =>
                            api(`/consumers/${encodeURIComponent(c.id)}/keys/${encodeURIComponent(k.id)}`, {
                              method: 'DELETE',
                            }),
                          )
                        }
                      >
                        Delete
                      </button>
                    </li>
                  ))}
                </ul>
              </td>
              <td>
                <button
                  type="button"
                  aria-label={`New key for ${c.name}`}
                  onClick={() =>
                    void run(`Key created for ${c.name}.`, async () => {
                      const made = await api<{ key: string }>(`/consumers/${encodeURIComponent(c.id)}/keys`, {
                        method: 'POST',
                      });
                      setNewKey({ consumer: c.name, key: made.key });
                    })
                  }
                >
                  New key
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Subscriptions</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          if (!subscribe.consumer || !subscribe.route) return;
          void run(`${nameOf(subscribe.consumer)} subscribed to ${subscribe.route}.`, () =>
            api('/subscriptions', { method: 'POST', body: subscribe }),
          );
        }}
      >
        <label>
          Consumer{' '}
          <select
            value={subscribe.consumer}
            onChange={(e) => setSubscribe({ ...subscribe, consumer: (e.target as HTMLSelectElement).value })}
          >
            <option value="">choose…</option>
            {(data.data?.consumers ?? []).map((c) => (
              <option value={c.id}>{c.name}</option>
            ))}
          </select>
        </label>
        <label>
          Route{' '}
          <select
            value={subscribe.route}
            onChange={(e) => setSubscribe({ ...subscribe, route: (e.target as HTMLSelectElement).value })}
          >
            <option value="">choose…</option>
            {(data.data?.routes ?? []).map((r) => (
              <option value={r.name}>{r.name}</option>
            ))}
          </select>
        </label>
        <button type="submit">Subscribe</button>
      </form>
      <table>
        <caption class="visually-hidden">Subscriptions</caption>
        <thead>
          <tr>
            <th scope="col">Consumer</th>
            <th scope="col">Route</th>
            <th scope="col">Status</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {(data.data?.subscriptions ?? []).map((s) => (
            <tr>
              <th scope="row">{nameOf(s.consumer)}</th>
              <td>{s.route}</td>
              <td>
                <span
                  class={
                    s.status === 'approved'
                      ? 'status ok'
                      : s.status === 'pending'
                        ? 'status client'
                        : 'status server'
                  }
                >
                  {s.status}
                </span>
              </td>
              <td>
                {ACTIONS[s.status].map((action) => (
                  <button
                    type="button"
                    aria-label={`${action} ${nameOf(s.consumer)} on ${s.route}`}
                    onClick={() =>
                      void run(`Subscription of ${nameOf(s.consumer)} to ${s.route}: ${DONE[action]}.`, () =>
                        api(`/subscriptions/${encodeURIComponent(s.id)}/${action}`, { method: 'POST' }),
                      )
                    }
                  >
                    {action[0]!.toUpperCase() + action.slice(1)}
                  </button>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
