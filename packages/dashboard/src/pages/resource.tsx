import { api, query, type Call, type Page } from '../api';
import { useLoad } from '../hooks';
import { CallsTable } from './calls-table';

/** The calls on one resource, oldest first: how a conflict came about. */
export function ResourceCalls(props: { resource: string }) {
  const data = useLoad(
    (signal) =>
      api<Page<Call>>(`/calls${query({ resource: props.resource, order: 'asc', limit: 200 })}`, { signal }),
    [props.resource],
  );
  return (
    <section aria-labelledby="resource-title">
      <h1 id="resource-title">
        Calls on <code>{props.resource}</code>
      </h1>
      <p class="note">Oldest first. A conflict names the write that made its version stale.</p>
      {data.error && (
        <p role="alert" class="error">
          Could not load the calls: {data.error}
        </p>
      )}
      {data.data && <CallsTable calls={data.data.items} caption={`Calls on ${props.resource}`} />}
    </section>
  );
}
