import { api, type Call } from '../api';
import { ms, statusClass, time } from '../format';
import { useLoad } from '../hooks';

function Headers(props: { title: string; headers: Record<string, string> | undefined }) {
  const entries = Object.entries(props.headers ?? {});
  return (
    <div class="panel">
      <h2>{props.title}</h2>
      {entries.length === 0 ? (
        <p class="note">None kept.</p>
      ) : (
        <table class="headers">
          <caption class="visually-hidden">{props.title}</caption>
          <tbody>
            {entries.map(([name, value]) => (
              <tr>
                <th scope="row">{name}</th>
                <td>
                  <code>{value}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function Body(props: { title: string; body: unknown; encoding: unknown; truncated: unknown }) {
  let text = typeof props.body === 'string' ? props.body : '';
  if (props.encoding !== 'base64') {
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not JSON: shown as it is
    }
  }
  return (
    <div class="panel">
      <h2>{props.title}</h2>
      {text === '' ? (
        <p class="note">No body kept.</p>
      ) : (
        <pre tabIndex={0} aria-label={props.title}>
          {text}
          {props.truncated ? '\n… (cut at the configured size)' : ''}
        </pre>
      )}
    </div>
  );
}

/** One call in full: what was asked, what came back, and for a conflict, who changed it first. */
export function CallDetail(props: { id: string }) {
  const data = useLoad(
    (signal) => api<Call>(`/calls/${encodeURIComponent(props.id)}`, { signal }),
    [props.id],
  );
  const c = data.data;
  let problem: Record<string, unknown> | undefined;
  if (
    c &&
    typeof c['responseBody'] === 'string' &&
    String(c['responseHeaders'] && (c['responseHeaders'] as Record<string, string>)['content-type']).includes(
      'problem+json',
    )
  ) {
    try {
      problem = JSON.parse(c['responseBody']) as Record<string, unknown>;
    } catch {
      problem = undefined;
    }
  }
  return (
    <section aria-labelledby="call-title">
      <h1 id="call-title">Call {props.id}</h1>
      {data.error && (
        <p role="alert" class="error">
          Could not load the call: {data.error}
        </p>
      )}
      {c && (
        <>
          <dl class="facts">
            <div>
              <dt>Time</dt>
              <dd>{time(c.time)}</dd>
            </div>
            <div>
              <dt>Request</dt>
              <dd>
                <code>
                  {c.method} {c.path}
                  {c.query ? `?${c.query}` : ''}
                </code>
              </dd>
            </div>
            <div>
              <dt>Status</dt>
              <dd>
                <span class={statusClass(c.status)}>
                  {c.status}
                  {c.code ? ` ${c.code}` : ''}
                </span>
              </dd>
            </div>
            <div>
              <dt>Route</dt>
              <dd>{c.route ?? '–'}</dd>
            </div>
            <div>
              <dt>Consumer</dt>
              <dd>{c.consumer ?? 'anonymous'}</dd>
            </div>
            <div>
              <dt>Resource</dt>
              <dd>
                {c.resource ? <a href={`#/resource/${encodeURIComponent(c.resource)}`}>{c.resource}</a> : '–'}
              </dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>
                {ms(c.durationMs)} (upstream {ms(c['upstreamMs'] as number | null)})
              </dd>
            </div>
            <div>
              <dt>Precondition</dt>
              <dd>{c.conditional ? 'yes' : c.unconditionalWarned ? 'none (warned)' : 'none'}</dd>
            </div>
            {c.retryOf && (
              <div>
                <dt>Retry of</dt>
                <dd>
                  <a href={`#/calls/${encodeURIComponent(c.retryOf)}`}>{c.retryOf}</a>
                  {c.early ? ' (sent before Retry-After)' : ''}
                </dd>
              </div>
            )}
          </dl>
          {(problem || c.staleBy) && (
            <div class="panel conflict-box">
              <h2>Why it was refused</h2>
              {problem && <p>{String(problem['detail'] ?? problem['title'] ?? '')}</p>}
              <dl class="facts">
                {problem?.['changedBy'] !== undefined && (
                  <div>
                    <dt>Changed by</dt>
                    <dd>{String(problem['changedBy'])}</dd>
                  </div>
                )}
                {problem?.['changedAt'] !== undefined && (
                  <div>
                    <dt>Changed at</dt>
                    <dd>{time(String(problem['changedAt']))}</dd>
                  </div>
                )}
                {problem?.['resolution'] !== undefined && (
                  <div>
                    <dt>What to do</dt>
                    <dd>{String(problem['resolution'])}</dd>
                  </div>
                )}
                {c.staleBy && (
                  <div>
                    <dt>The write that made it stale</dt>
                    <dd>
                      <a href={`#/calls/${encodeURIComponent(c.staleBy.id)}`}>{c.staleBy.id}</a> by{' '}
                      {c.staleBy.consumer ?? 'anonymous'} at {time(c.staleBy.time)}
                    </dd>
                  </div>
                )}
              </dl>
            </div>
          )}
          <div class="columns">
            <Headers
              title="Request headers"
              headers={c['requestHeaders'] as Record<string, string> | undefined}
            />
            <Headers
              title="Response headers"
              headers={c['responseHeaders'] as Record<string, string> | undefined}
            />
          </div>
          <div class="columns">
            <Body
              title="Request body"
              body={c['requestBody']}
              encoding={c['requestBodyEncoding']}
              truncated={c['requestBodyTruncated']}
            />
            <Body
              title="Response body"
              body={c['responseBody']}
              encoding={c['responseBodyEncoding']}
              truncated={c['responseBodyTruncated']}
            />
          </div>
        </>
      )}
    </section>
  );
}
