import { useState } from 'preact/hooks';
import { api, query } from '../api';
import { Chart } from '../chart';
import { count, ms, percent, WINDOWS } from '../format';
import { WindowSelect } from '../window-select';
import { useLoad } from '../hooks';

interface Summary {
  calls: number;
  errors: number;
  conflicts: number;
  conflictRate: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  byStatus: Record<string, number>;
  byCode: Record<string, number>;
}
interface Point {
  time: string;
  calls: number;
  errors: number;
  conflicts: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
interface Route {
  name: string;
  prefix: string;
  auth: string;
  subscription: string;
  requirePreconditions: string;
}

/** Traffic, error and conflict rates and latency percentiles, for every route or one. */
export function Overview() {
  const [route, setRoute] = useState('');
  const [windowIndex, setWindowIndex] = useState(1);
  const win = WINDOWS[windowIndex]!;
  const routes = useLoad((signal) => api<{ items: Route[] }>('/routes', { signal }), []);
  const data = useLoad(
    async (signal) => {
      const since = new Date(Date.now() - win.ms).toISOString();
      const [summary, series, perRoute] = await Promise.all([
        api<Summary>(`/analytics/summary${query({ route, since })}`, { signal }),
        api<{ items: Point[] }>(`/analytics/series${query({ route, since, step: win.step })}`, { signal }),
        Promise.all(
          (routes.data?.items ?? []).map(async (r) => ({
            route: r,
            summary: await api<Summary>(`/analytics/summary${query({ route: r.name, since })}`, { signal }),
          })),
        ),
      ]);
      return { summary, series: series.items, perRoute };
    },
    [route, windowIndex, routes.data],
    10_000,
  );
  const points = data.data?.series ?? [];
  const times = points.map((p) => Date.parse(p.time));
  const stepMinutes = win.step.endsWith('h')
    ? 60 * Number(win.step.slice(0, -1))
    : Number(win.step.slice(0, -1));
  const s = data.data?.summary;
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Route{' '}
          <select value={route} onChange={(e) => setRoute((e.target as HTMLSelectElement).value)}>
            <option value="">every route</option>
            {(routes.data?.items ?? []).map((r) => (
              <option value={r.name}>{r.name}</option>
            ))}
          </select>
        </label>
        <WindowSelect value={windowIndex} onChange={setWindowIndex} />
      </form>
      {data.error && (
        <p role="alert" class="error">
          Could not load the analytics: {data.error}
        </p>
      )}
      <dl class="tiles" aria-label="Summary">
        <div>
          <dt>Calls</dt>
          <dd>{count(s?.calls)}</dd>
        </div>
        <div>
          <dt>Conflicts</dt>
          <dd>{count(s?.conflicts)}</dd>
        </div>
        <div>
          <dt>Conflict rate</dt>
          <dd>{percent(s?.conflictRate)}</dd>
        </div>
        <div>
          <dt>Errors (5xx)</dt>
          <dd>{count(s?.errors)}</dd>
        </div>
        <div>
          <dt>p50</dt>
          <dd>{ms(s?.p50)}</dd>
        </div>
        <div>
          <dt>p95</dt>
          <dd>{ms(s?.p95)}</dd>
        </div>
        <div>
          <dt>p99</dt>
          <dd>{ms(s?.p99)}</dd>
        </div>
      </dl>
      <div class="charts">
        <Chart
          title="Traffic"
          unit={`calls per ${win.step}`}
          times={times}
          series={[
            { label: 'calls', color: '#1f5fbf', values: points.map((p) => p.calls) },
            { label: 'conflicts', color: '#b3261e', values: points.map((p) => p.conflicts) },
          ]}
          format={(v) => String(Math.round(v))}
        />
        <Chart
          title="Conflict and error rates"
          unit="% of calls"
          times={times}
          series={[
            {
              label: 'conflict rate',
              color: '#b3261e',
              values: points.map((p) => (p.calls ? (100 * p.conflicts) / p.calls : null)),
            },
            {
              label: 'error rate',
              color: '#7a4b00',
              values: points.map((p) => (p.calls ? (100 * p.errors) / p.calls : null)),
            },
          ]}
          format={(v) => `${v.toFixed(1)}`}
        />
        <Chart
          title="Latency"
          unit="milliseconds"
          times={times}
          series={[
            { label: 'p50', color: '#1f7a3a', values: points.map((p) => p.p50) },
            { label: 'p95', color: '#1f5fbf', values: points.map((p) => p.p95) },
            { label: 'p99', color: '#6a1b9a', values: points.map((p) => p.p99) },
          ]}
          format={(v) => v.toFixed(v < 10 ? 1 : 0)}
        />
      </div>
      <p class="note">
        Each point covers {stepMinutes} minute{stepMinutes === 1 ? '' : 's'}; the charts refresh every 10 s.
      </p>
      <h2>Routes</h2>
      <table>
        <caption class="visually-hidden">Every route over the window</caption>
        <thead>
          <tr>
            <th scope="col">Route</th>
            <th scope="col">Prefix</th>
            <th scope="col">Access</th>
            <th scope="col">Guard</th>
            <th scope="col" class="num">
              Calls
            </th>
            <th scope="col" class="num">
              Conflict rate
            </th>
            <th scope="col" class="num">
              p99
            </th>
          </tr>
        </thead>
        <tbody>
          {(data.data?.perRoute ?? []).map(({ route: r, summary }) => (
            <tr>
              <th scope="row">{r.name}</th>
              <td>
                <code>{r.prefix}</code>
              </td>
              <td>{r.auth === 'key' ? `key, ${r.subscription}` : 'open'}</td>
              <td>{r.requirePreconditions}</td>
              <td class="num">{count(summary.calls)}</td>
              <td class="num">{percent(summary.conflictRate)}</td>
              <td class="num">{ms(summary.p99)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
