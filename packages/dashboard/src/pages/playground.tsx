import {
  createClient,
  isProblem,
  type Client,
  type CollectionOptions,
  type Conflict,
  type ConflictContext,
  type Snapshot,
} from '@truce/client';
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { time } from '../format';

/** The shop example's documents, as its truce.yaml merges them: the client's merges match the server's. */
const COLLECTIONS: { readonly [name: string]: CollectionOptions } = {
  documents: { merge: { arrays: { '/tags': null, '/items': 'sku' }, text: ['/body'] } },
};
const DOCUMENT = 'playground';
/** What the playground's document starts as (truce dev makes the same one). */
const PLAYGROUND_DOCUMENT = {
  title: 'Launch plan',
  body: 'Book the venue\nInvite the press\nOrder the cake',
  tags: ['draft'],
};
const EDITORS = [
  { consumer: 'playground-ann', name: 'Ann' },
  { consumer: 'playground-ben', name: 'Ben' },
] as const;

interface Doc {
  title?: string;
  body?: string;
  tags?: string[];
}

interface Route {
  name: string;
  prefix: string;
  auth: string;
  host: string | null;
}

/** Consumers for the two editors, each with a fresh key approved on `route`, through the admin API. */
async function editorKey(consumer: string, route: string, existing: ReadonlySet<string>): Promise<string> {
  if (!existing.has(consumer)) await api('/consumers', { method: 'POST', body: { name: consumer } });
  const path = `/consumers/${encodeURIComponent(consumer)}`;
  // Each visit makes a new key; the previous ones go, so keys do not pile up.
  const { items } = await api<{ items: { id: string }[] }>(`${path}/keys?limit=1000`);
  for (const key of items) await api(`${path}/keys/${encodeURIComponent(key.id)}`, { method: 'DELETE' });
  const { key } = await api<{ key: string }>(`${path}/keys`, { method: 'POST' });
  const subs = await api<{ items: { id: string; status: string }[] }>(
    `/subscriptions?consumer=${encodeURIComponent(consumer)}&route=${encodeURIComponent(route)}`,
  );
  let sub = subs.items[0];
  if (!sub)
    sub = await api<{ id: string; status: string }>('/subscriptions', {
      method: 'POST',
      body: { consumer, route },
    });
  if (sub.status !== 'approved')
    await api(`/subscriptions/${encodeURIComponent(sub.id)}/approve`, { method: 'POST' });
  return key;
}

interface Pending {
  readonly conflicts: readonly Conflict[];
  readonly context: ConflictContext<Doc>;
  readonly done: (resolution: Doc | 'abort') => void;
}

type Choice = 'ours' | 'theirs' | 'edit';

function show(value: unknown): string {
  if (value === undefined) return '(absent)';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Every conflicting place with base, mine and theirs; the person picks per place, or edits the value. */
function Resolution(props: { editor: string; pending: Pending }) {
  const { conflicts, context, done } = props.pending;
  const [choices, setChoices] = useState<Record<string, Choice>>(() =>
    Object.fromEntries(conflicts.map((c) => [c.pointer, 'ours' as Choice])),
  );
  const [edits, setEdits] = useState<Record<string, string>>(() =>
    Object.fromEntries(conflicts.map((c) => [c.pointer, show(c.ours)])),
  );
  const [error, setError] = useState<string | undefined>(undefined);
  const submit = (e: Event) => {
    e.preventDefault();
    const chosen: Record<string, 'ours' | 'theirs' | { value: string | number | boolean | null | object }> =
      {};
    for (const c of conflicts) {
      const choice = choices[c.pointer]!;
      if (choice !== 'edit') {
        chosen[c.pointer] = choice;
        continue;
      }
      const text = edits[c.pointer] ?? '';
      if (typeof c.ours === 'string' || typeof c.theirs === 'string') chosen[c.pointer] = { value: text };
      else {
        try {
          chosen[c.pointer] = { value: JSON.parse(text) as object };
        } catch {
          setError(`The value for ${c.pointer} is not JSON.`);
          return;
        }
      }
    }
    done(context.choose(chosen as never));
  };
  return (
    <form class="panel resolution" onSubmit={submit} aria-label={`${props.editor}: resolve the conflicts`}>
      <h3>Both of you changed the same places</h3>
      <p class="note">
        Round {context.round}. For each place, keep your value, take theirs, or write the merged value;
        everything else is already merged.
      </p>
      {conflicts.map((c, i) => (
        <fieldset>
          <legend>
            <code>{c.pointer}</code> (changed by {c.changedBy ?? 'someone'}
            {c.changedAt ? ` at ${time(c.changedAt)}` : ''})
          </legend>
          <dl class="facts three">
            <div>
              <dt>Base</dt>
              <dd>{show(c.base)}</dd>
            </div>
            <div>
              <dt>Mine</dt>
              <dd>{show(c.ours)}</dd>
            </div>
            <div>
              <dt>Theirs</dt>
              <dd>{show(c.theirs)}</dd>
            </div>
          </dl>
          {(['ours', 'theirs', 'edit'] as const).map((choice) => (
            <label class="choice">
              <input
                type="radio"
                name={`${props.editor}-choice-${i}`}
                value={choice}
                checked={choices[c.pointer] === choice}
                onChange={() => setChoices({ ...choices, [c.pointer]: choice })}
              />{' '}
              {choice === 'ours'
                ? 'Keep mine'
                : choice === 'theirs'
                  ? 'Take theirs'
                  : 'Edit the merged value'}
            </label>
          ))}
          {choices[c.pointer] === 'edit' && (
            <label class="stack">
              Merged value for {c.pointer}
              <textarea
                rows={3}
                value={edits[c.pointer]}
                onInput={(e) => setEdits({ ...edits, [c.pointer]: (e.target as HTMLTextAreaElement).value })}
              />
            </label>
          )}
        </fieldset>
      ))}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <button type="submit">Save the resolution</button>{' '}
      <button type="button" onClick={() => done('abort')}>
        Cancel the save
      </button>
    </form>
  );
}

/** One editor: a client of its own (its own key, so its own actor), a form, and the resolution view. */
function Editor(props: { name: string; client: Client }) {
  const [shown, setShown] = useState<Snapshot<Doc> | undefined>(undefined);
  const [form, setForm] = useState({ title: '', body: '', tags: '' });
  const [status, setStatus] = useState<{ text: string; error?: boolean } | undefined>(undefined);
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const [saving, setSaving] = useState(false);
  const load = async () => {
    const snap = (await props.client.get('documents', DOCUMENT)) as unknown as Snapshot<Doc>;
    setShown(snap);
    setForm({
      title: snap.data.title ?? '',
      body: snap.data.body ?? '',
      tags: (snap.data.tags ?? []).join(', '),
    });
    setStatus({
      text: `Loaded version ${String((snap.data as unknown as Record<string, unknown>)['_version'])}.`,
    });
  };
  useEffect(() => {
    load().catch((e: unknown) => setStatus({ text: String(e), error: true }));
  }, [props.client]);
  const save = async (e: Event) => {
    e.preventDefault();
    if (!shown) return;
    setSaving(true);
    setStatus({ text: 'Saving…' });
    try {
      const tags = form.tags
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      const result = await props.client.update<'documents'>(
        'documents',
        DOCUMENT,
        (doc) => {
          const d = doc as unknown as Doc;
          d.title = form.title;
          d.body = form.body;
          d.tags = tags;
        },
        {
          base: shown as never,
          resolve: (conflicts, context) =>
            new Promise((resolve) =>
              setPending({
                conflicts,
                context: context as unknown as ConflictContext<Doc>,
                done: (resolution) => {
                  setPending(undefined);
                  resolve(resolution as never);
                },
              }),
            ),
        },
      );
      const snap = result as unknown as Snapshot<Doc>;
      setShown(snap);
      setForm({
        title: snap.data.title ?? '',
        body: snap.data.body ?? '',
        tags: (snap.data.tags ?? []).join(', '),
      });
      const version = String((snap.data as unknown as Record<string, unknown>)['_version']);
      setStatus({
        text: result.conflicts
          ? `Saved version ${version} with your resolution of ${result.conflicts} conflict${result.conflicts === 1 ? '' : 's'}.`
          : result.merged
            ? `Saved version ${version}: merged with changes made since you loaded it.`
            : `Saved version ${version}.`,
      });
    } catch (error) {
      setStatus({
        text: isProblem(error)
          ? `${error.status} ${error.code}: ${error.problem.detail ?? ''}`
          : (error as Error).message,
        error: true,
      });
    } finally {
      setSaving(false);
    }
  };
  const id = props.name.toLowerCase();
  return (
    <section class="panel editor" aria-labelledby={`editor-${id}`}>
      <h2 id={`editor-${id}`}>{props.name}</h2>
      <form onSubmit={save}>
        <label class="stack">
          Title
          <input
            name={`${id}-title`}
            value={form.title}
            onInput={(e) => setForm({ ...form, title: (e.target as HTMLInputElement).value })}
          />
        </label>
        <label class="stack">
          Body
          <textarea
            name={`${id}-body`}
            rows={6}
            value={form.body}
            onInput={(e) => setForm({ ...form, body: (e.target as HTMLTextAreaElement).value })}
          />
        </label>
        <label class="stack">
          Tags (comma separated)
          <input
            name={`${id}-tags`}
            value={form.tags}
            onInput={(e) => setForm({ ...form, tags: (e.target as HTMLInputElement).value })}
          />
        </label>
        <button type="submit" disabled={saving || !shown}>
          Save as {props.name}
        </button>{' '}
        <button
          type="button"
          disabled={saving}
          onClick={() => void load().catch((e: unknown) => setStatus({ text: String(e), error: true }))}
        >
          Reload
        </button>
      </form>
      {status && (
        <p role={status.error ? 'alert' : 'status'} class={status.error ? 'error' : 'note'}>
          {status.text}
        </p>
      )}
      {pending && <Resolution editor={props.name} pending={pending} />}
    </section>
  );
}

/**
 * Two editors of one shop document side by side, each a `@truce/client` of its own calling the
 * gateway with its own key (so the server records who wrote what). Edits to different places merge
 * on save; edits to the same place open the resolution view.
 */
export function Playground() {
  const [clients, setClients] = useState<Client[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    (async () => {
      const routes = await api<{ items: Route[]; proxyPort: number }>('/routes');
      const route = routes.items.find((r) => r.auth === 'key' && r.host === null);
      if (!route)
        throw new Error(
          'The playground needs a route with auth: key (and no host) in front of the shop example.',
        );
      const base = `${location.protocol}//${location.hostname}:${routes.proxyPort}${route.prefix === '/' ? '' : route.prefix}`;
      const consumers = await api<{ items: { name: string }[] }>('/consumers?limit=1000');
      const existing = new Set(consumers.items.map((c) => c.name));
      const made = await Promise.all(
        EDITORS.map(async (editor) =>
          createClient({
            baseUrl: base,
            headers: { 'x-api-key': await editorKey(editor.consumer, route.name, existing) },
            collections: COLLECTIONS,
            retry: false,
          }),
        ),
      );
      // truce dev makes the document; elsewhere the first visit does.
      const listed = await made[0]!.list('documents', { limit: 1000 });
      if (!listed.items.some((d) => (d as { id?: string }).id === DOCUMENT)) {
        try {
          await made[0]!.create('documents', { id: DOCUMENT, ...PLAYGROUND_DOCUMENT } as never);
        } catch (e) {
          if (!isProblem(e, 'already-exists')) throw e; // past the first 1000 documents
        }
      }
      setClients(made);
    })().catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, []);
  return (
    <section aria-labelledby="playground-title">
      <h1 id="playground-title">Conflict playground</h1>
      <p class="note">
        Two people edit the document <code>documents/{DOCUMENT}</code> through the gateway, each with a client
        and key of their own. Change different fields or lines and save both: the edits merge. Change the same
        one: the second save asks what to keep.
      </p>
      {error && (
        <p role="alert" class="error">
          The playground cannot start: {error}
        </p>
      )}
      {clients && (
        <div class="columns">
          {EDITORS.map((editor, i) => (
            <Editor name={editor.name} client={clients[i]!} />
          ))}
        </div>
      )}
    </section>
  );
}
