import type { Call } from '../api';
import { ms, statusClass, time } from '../format';

/** Calls as rows: time, consumer, method and path, status and code, duration, and what links them. */
export function CallsTable(props: { calls: readonly Call[]; caption: string; showLinks?: boolean }) {
  return (
    <table class="calls">
      <caption class="visually-hidden">{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Consumer</th>
          <th scope="col">Request</th>
          <th scope="col">Status</th>
          <th scope="col" class="num">
            Duration
          </th>
          <th scope="col">Notes</th>
        </tr>
      </thead>
      <tbody>
        {props.calls.map((c) => (
          <tr key={c.id}>
            <td>
              <a href={`#/calls/${encodeURIComponent(c.id)}`}>{time(c.time)}</a>
            </td>
            <td>{c.consumer ?? 'anonymous'}</td>
            <td>
              <code>
                {c.method} {c.path}
              </code>
            </td>
            <td>
              <span class={statusClass(c.status)}>
                {c.status}
                {c.code ? ` ${c.code}` : ''}
              </span>
            </td>
            <td class="num">{ms(c.durationMs)}</td>
            <td>
              {[
                c.unconditionalWarned ? 'no precondition' : '',
                c.retryOf ? (c.early ? 'early retry' : 'retry') : '',
                c.staleBy ? `stale: ${c.staleBy.consumer ?? 'anonymous'} wrote first` : '',
              ]
                .filter(Boolean)
                .join('; ')}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
