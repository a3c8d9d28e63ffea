import { useState } from 'preact/hooks';
import { api, query } from '../api';
import { codes, count, time, WINDOWS } from '../format';
import { WindowSelect } from '../window-select';
import { useLoad } from '../hooks';

interface Hotspot {
  key: string;
  conflicts: number;
  calls: number;
  byCode: Record<string, number>;
  lastAt: string;
}

const DIMENSIONS = [
  { by: 'resource', title: 'Resources' },
  { by: 'route', title: 'Routes' },
  { by: 'consumer', title: 'Consumers' },
] as const;

/** Where conflicts happen: resources, routes and consumers, most conflicts first. */
export function Hotspots() {
  const [windowIndex, setWindowIndex] = useState(1);
  const win = WINDOWS[windowIndex]!;
  const data = useLoad(
    async (signal) => {
      const since = new Date(Date.now() - win.ms).toISOString();
      return Promise.all(
        DIMENSIONS.map((d) =>
          api<{ items: Hotspot[] }>(`/analytics/hotspots${query({ by: d.by, since, limit: 20 })}`, {
            signal,
          }),
        ),
      );
    },
    [windowIndex],
    10_000,
  );
  return (
    <section aria-labelledby="hotspots-title">
      <h1 id="hotspots-title">Hotspots</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <WindowSelect value={windowIndex} onChange={setWindowIndex} />
      </form>
      {data.error && (
        <p role="alert" class="error">
          Could not load the hotspots: {data.error}
        </p>
      )}
      {DIMENSIONS.map((d, i) => {
        const items = data.data?.[i]?.items ?? [];
        return (
          <div class="panel">
            <h2 id={`hot-${d.by}`}>{d.title}</h2>
            {items.length === 0 ? (
              <p class="note">No conflicts in this window.</p>
            ) : (
              <table aria-labelledby={`hot-${d.by}`}>
                <thead>
                  <tr>
                    <th scope="col">{d.by[0]!.toUpperCase() + d.by.slice(1)}</th>
                    <th scope="col" class="num">
                      Conflicts
                    </th>
                    <th scope="col" class="num">
                      Calls
                    </th>
                    <th scope="col">By code</th>
                    <th scope="col">Last conflict</th>
                  </tr>
                </thead>
                <tbody>
                  {items.map((h) => (
                    <tr>
                      <th scope="row">
                        {d.by === 'resource' ? (
                          <a href={`#/resource/${encodeURIComponent(h.key)}`}>{h.key}</a>
                        ) : (
                          <a href={`#/tail/${d.by}/${encodeURIComponent(h.key)}`}>{h.key}</a>
                        )}
                      </th>
                      <td class="num">{count(h.conflicts)}</td>
                      <td class="num">{count(h.calls)}</td>
                      <td>{codes(h.byCode)}</td>
                      <td>{time(h.lastAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        );
      })}
    </section>
  );
}
