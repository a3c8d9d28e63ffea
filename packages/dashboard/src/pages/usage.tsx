import { useState } from 'preact/hooks';
import { api, query } from '../api';
import { count, WINDOWS } from '../format';
import { WindowSelect } from '../window-select';
import { useLoad } from '../hooks';

interface UsageItem {
  consumer: string | null;
  route: string | null;
  provider: string | null;
  model: string | null;
  calls: number;
  errors: number;
  tokensIn: number;
  tokensOut: number;
  cost: number;
  unpriced: number;
}

interface UsageReport {
  items: UsageItem[];
  totals: {
    calls: number;
    errors: number;
    tokensIn: number;
    tokensOut: number;
    cost: number;
    unpriced: number;
  };
}

const GROUPINGS = [
  { by: 'consumer,model', label: 'Consumer and model' },
  { by: 'consumer', label: 'Consumer' },
  { by: 'model', label: 'Model' },
  { by: 'route', label: 'Route' },
] as const;

/** Cost in the price table's currency: enough digits for the fractions of a cent one call costs. */
function money(value: number): string {
  return value === 0 ? '0' : value < 0.01 ? value.toFixed(6) : value.toFixed(2);
}

/** AI routes' calls, tokens and cost per consumer and model (`GET /analytics/usage`). */
export function Usage() {
  const [windowIndex, setWindowIndex] = useState(3);
  const [grouping, setGrouping] = useState(0);
  const win = WINDOWS[windowIndex]!;
  const by = GROUPINGS[grouping]!.by;
  const data = useLoad(
    (signal) => {
      const since = new Date(Date.now() - win.ms).toISOString();
      return api<UsageReport>(`/analytics/usage${query({ by, since })}`, { signal });
    },
    [windowIndex, grouping],
    10_000,
  );
  const report = data.data;
  const columns = by.split(',');
  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">AI usage and cost</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <WindowSelect value={windowIndex} onChange={setWindowIndex} />{' '}
        <label>
          Per{' '}
          <select
            value={grouping}
            onChange={(e) => setGrouping(Number((e.target as HTMLSelectElement).value))}
          >
            {GROUPINGS.map((g, i) => (
              <option value={i}>{g.label}</option>
            ))}
          </select>
        </label>
      </form>
      {data.error && (
        <p role="alert" class="error">
          Could not load the usage: {data.error}
        </p>
      )}
      {report && (
        <dl class="tiles" aria-label="Totals">
          <div>
            <dt>Calls</dt>
            <dd>{count(report.totals.calls)}</dd>
          </div>
          <div>
            <dt>Tokens in</dt>
            <dd>{count(report.totals.tokensIn)}</dd>
          </div>
          <div>
            <dt>Tokens out</dt>
            <dd>{count(report.totals.tokensOut)}</dd>
          </div>
          <div>
            <dt>Cost</dt>
            <dd>{money(report.totals.cost)}</dd>
          </div>
          <div>
            <dt>Calls without a price</dt>
            <dd>{count(report.totals.unpriced)}</dd>
          </div>
        </dl>
      )}
      <div class="panel">
        <h2 id="usage-table">Usage</h2>
        {!report || report.items.length === 0 ? (
          <p class="note">No AI calls in this window.</p>
        ) : (
          <table aria-labelledby="usage-table">
            <thead>
              <tr>
                {columns.map((c) => (
                  <th scope="col">{c[0]!.toUpperCase() + c.slice(1)}</th>
                ))}
                <th scope="col" class="num">
                  Calls
                </th>
                <th scope="col" class="num">
                  Errors
                </th>
                <th scope="col" class="num">
                  Tokens in
                </th>
                <th scope="col" class="num">
                  Tokens out
                </th>
                <th scope="col" class="num">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {report.items.map((item) => (
                <tr>
                  {columns.map((c, i) => {
                    const value =
                      c === 'model'
                        ? item.provider && item.model
                          ? `${item.provider}/${item.model}`
                          : (item.model ?? '–')
                        : ((item as unknown as Record<string, string | null>)[c] ?? '(none)');
                    return i === 0 ? <th scope="row">{value}</th> : <td>{value}</td>;
                  })}
                  <td class="num">{count(item.calls)}</td>
                  <td class="num">{count(item.errors)}</td>
                  <td class="num">{count(item.tokensIn)}</td>
                  <td class="num">{count(item.tokensOut)}</td>
                  <td class="num">{item.unpriced === item.calls ? 'no price' : money(item.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}
