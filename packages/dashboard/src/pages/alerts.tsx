import { api } from '../api';
import { time } from '../format';
import { useLoad } from '../hooks';

interface Rule {
  name: string;
  metric: string;
  route: string | null;
  state: 'ok' | 'firing';
  value: number | null;
  above: number;
  samples: number;
  since: string;
  [member: string]: unknown;
}
interface AlertEvent {
  id: number;
  event: 'fire' | 'resolve';
  rule: string;
  metric: string;
  route: string | null;
  value: number;
  above: number;
  samples: number;
  time: string;
}

function value(metric: string, v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  if (metric.endsWith('-rate')) return `${(v * 100).toFixed(1)} %`;
  if (metric === 'p99') return `${v.toFixed(1)} ms`;
  return String(v);
}

/** Alert rules with their state, and the recent fire and resolve events. */
export function Alerts() {
  const data = useLoad(
    async (signal) => {
      const [rules, events] = await Promise.all([
        api<{ items: Rule[] }>('/alerts', { signal }),
        api<{ items: AlertEvent[] }>('/alerts/events?format=json', { signal }),
      ]);
      return { rules: rules.items, events: [...events.items].reverse() };
    },
    [],
    5_000,
  );
  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      {data.error && (
        <p role="alert" class="error">
          Could not load the alerts: {data.error}
        </p>
      )}
      <h2>Rules</h2>
      {data.data && data.data.rules.length === 0 && <p class="note">No alert rules are configured.</p>}
      <table>
        <caption class="visually-hidden">Alert rules</caption>
        <thead>
          <tr>
            <th scope="col">Rule</th>
            <th scope="col">Metric</th>
            <th scope="col">Route</th>
            <th scope="col">State</th>
            <th scope="col" class="num">
              Value
            </th>
            <th scope="col" class="num">
              Threshold
            </th>
            <th scope="col" class="num">
              Samples
            </th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {(data.data?.rules ?? []).map((r) => (
            <tr>
              <th scope="row">{r.name}</th>
              <td>{r.metric}</td>
              <td>{r.route ?? 'every route'}</td>
              <td>
                <span class={r.state === 'firing' ? 'status server' : 'status ok'}>{r.state}</span>
              </td>
              <td class="num">{value(r.metric, r.value)}</td>
              <td class="num">{value(r.metric, r.above)}</td>
              <td class="num">{r.samples}</td>
              <td>{time(r.since)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Recent events</h2>
      {data.data && data.data.events.length === 0 ? (
        <p class="note">No alert has fired since the gateway started.</p>
      ) : (
        <table>
          <caption class="visually-hidden">Recent alert events, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Rule</th>
              <th scope="col" class="num">
                Value
              </th>
              <th scope="col" class="num">
                Samples
              </th>
            </tr>
          </thead>
          <tbody>
            {(data.data?.events ?? []).map((e) => (
              <tr>
                <td>{time(e.time)}</td>
                <td>
                  <span class={e.event === 'fire' ? 'status server' : 'status ok'}>{e.event}</span>
                </td>
                <td>{e.rule}</td>
                <td class="num">{value(e.metric, e.value)}</td>
                <td class="num">{e.samples}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
