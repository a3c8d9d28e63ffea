import { useState } from 'preact/hooks';
import { api } from '../api';
import { time } from '../format';
import { useLoad } from '../hooks';

interface PromptRow {
  route: string;
  name: string;
  status: string | null;
  model: string | null;
  version: number | null;
  updatedAt: string | null;
  updatedBy: string | null;
}

interface VersionRow {
  version: number;
  etag: string;
  op: string;
  at: string;
  by: string | null;
}

/** A prompt's history, newest first, loaded when asked for. */
function History(props: { prompt: PromptRow }) {
  const { route, name } = props.prompt;
  const data = useLoad(
    (signal) =>
      api<{ items: VersionRow[] }>(
        `/ai/prompts/${encodeURIComponent(route)}/${encodeURIComponent(name)}/versions`,
        {
          signal,
        },
      ),
    [route, name],
  );
  if (data.error) {
    return (
      <p role="alert" class="error">
        Could not load the history: {data.error}
      </p>
    );
  }
  const items = data.data?.items ?? [];
  return (
    <table aria-label={`Versions of ${name}`}>
      <thead>
        <tr>
          <th scope="col" class="num">
            Version
          </th>
          <th scope="col">Change</th>
          <th scope="col">When</th>
          <th scope="col">By</th>
          <th scope="col">ETag</th>
        </tr>
      </thead>
      <tbody>
        {items.map((v) => (
          <tr>
            <th scope="row" class="num">
              {v.version}
            </th>
            <td>{v.op}</td>
            <td>{time(v.at)}</td>
            <td>{v.by ?? '–'}</td>
            <td>
              <code>{v.etag}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The prompts of AI routes, with their state and version, and each one's history on demand. */
export function Prompts() {
  const data = useLoad((signal) => api<{ items: PromptRow[] }>('/ai/prompts', { signal }), [], 15_000);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const items = data.data?.items ?? [];
  return (
    <section aria-labelledby="prompts-title">
      <h1 id="prompts-title">Prompts</h1>
      <p class="note">
        Prompts are edited on their Truce state server, with If-Match or Truce-Base; the gateway calls the
        published version.
      </p>
      {data.error && (
        <p role="alert" class="error">
          Could not load the prompts: {data.error}
        </p>
      )}
      <div class="panel">
        <h2 id="prompts-table">Prompts</h2>
        {items.length === 0 ? (
          <p class="note">No prompts (or no AI route keeps state).</p>
        ) : (
          <table aria-labelledby="prompts-table">
            <thead>
              <tr>
                <th scope="col">Prompt</th>
                <th scope="col">Route</th>
                <th scope="col">Status</th>
                <th scope="col">Model</th>
                <th scope="col" class="num">
                  Version
                </th>
                <th scope="col">Changed</th>
                <th scope="col">By</th>
                <th scope="col">History</th>
              </tr>
            </thead>
            <tbody>
              {items.map((p) => {
                const key = `${p.route}/${p.name}`;
                return (
                  <tr>
                    <th scope="row">{p.name}</th>
                    <td>{p.route}</td>
                    <td>{p.status ?? '–'}</td>
                    <td>{p.model ?? '–'}</td>
                    <td class="num">{p.version ?? '–'}</td>
                    <td>{time(p.updatedAt)}</td>
                    <td>{p.updatedBy ?? '–'}</td>
                    <td>
                      <button
                        type="button"
                        aria-expanded={open === key}
                        onClick={() => setOpen(open === key ? undefined : key)}
                      >
                        {open === key ? 'Hide' : 'Show'} versions of {p.name}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </div>
      {items
        .filter((p) => open === `${p.route}/${p.name}`)
        .map((p) => (
          <div class="panel">
            <h2>Versions of {p.name}</h2>
            <History prompt={p} />
          </div>
        ))}
    </section>
  );
}
