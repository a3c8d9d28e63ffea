import { useEffect, useRef, useState } from 'preact/hooks';
import { query, stream, type Call } from '../api';
import { CallsTable } from './calls-table';

const KEEP = 200;

/** The live tail: calls as the gateway logs them, filtered, pausable. */
export function Tail(props: { initial?: { route?: string | undefined; consumer?: string | undefined } }) {
  const [filters, setFilters] = useState({
    route: props.initial?.route ?? '',
    status: '',
    code: '',
    consumer: props.initial?.consumer ?? '',
  });
  const [draft, setDraft] = useState(filters);
  const [calls, setCalls] = useState<Call[]>([]);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState<Call[]>([]);
  const [state, setState] = useState<'connecting' | 'open' | 'reconnecting'>('connecting');
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    const controller = new AbortController();
    setCalls([]);
    setHeld([]);
    setState('connecting');
    void stream(
      `/calls/stream${query(filters)}`,
      (event, data) => {
        if (event !== 'call') return;
        const call = JSON.parse(data) as Call;
        if (pausedRef.current) setHeld((h) => [call, ...h].slice(0, KEEP));
        else setCalls((c) => [call, ...c].slice(0, KEEP));
      },
      controller.signal,
      setState,
    );
    return () => controller.abort();
  }, [filters]);

  const resume = () => {
    setCalls((c) => [...held, ...c].slice(0, KEEP));
    setHeld([]);
    setPaused(false);
  };
  const field = (name: keyof typeof draft, label: string, placeholder: string) => (
    <label>
      {label}{' '}
      <input
        name={name}
        value={draft[name]}
        placeholder={placeholder}
        onInput={(e) => setDraft({ ...draft, [name]: (e.target as HTMLInputElement).value.trim() })}
      />
    </label>
  );
  return (
    <section aria-labelledby="tail-title">
      <h1 id="tail-title">Live tail</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
        }}
      >
        {field('route', 'Route', 'shop')}
        {field('status', 'Status', '412 or 4xx')}
        {field('code', 'Code', 'stale-write')}
        {field('consumer', 'Consumer', 'name')}
        <button type="submit">Apply filters</button>
        <button type="button" aria-pressed={paused} onClick={() => (paused ? resume() : setPaused(true))}>
          {paused ? `Resume (${held.length} new)` : 'Pause'}
        </button>
      </form>
      <p class="note" role="status">
        {state === 'open'
          ? `Live: ${calls.length} calls shown, newest first.`
          : state === 'connecting'
            ? 'Connecting…'
            : 'Connection lost; reconnecting…'}
      </p>
      <CallsTable calls={calls} caption="Calls as they are logged, newest first" />
    </section>
  );
}
