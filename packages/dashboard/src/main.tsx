import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, onUnauthorised, storedKey, storeKey } from './api';
import { useHashPath } from './hooks';
import { Alerts } from './pages/alerts';
import { CallDetail } from './pages/call';
import { Consumers } from './pages/consumers';
import { Hotspots } from './pages/hotspots';
import { Overview } from './pages/overview';
import { Playground } from './pages/playground';
import { ResourceCalls } from './pages/resource';
import { Tail } from './pages/tail';
import { Usage } from './pages/usage';
import { Prompts } from './pages/prompts';

const NAV = [
  { path: '/', label: 'Overview' },
  { path: '/hotspots', label: 'Hotspots' },
  { path: '/tail', label: 'Live tail' },
  { path: '/alerts', label: 'Alerts' },
  { path: '/consumers', label: 'Consumers' },
  { path: '/usage', label: 'AI usage' },
  { path: '/prompts', label: 'Prompts' },
  { path: '/playground', label: 'Playground' },
] as const;

/** Asks for the admin key once; it is kept in sessionStorage, so it leaves with the browser tab. */
function Login(props: { onDone: () => void; expired: boolean }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  return (
    <main id="main" class="login">
      <h1>Truce gateway</h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          storeKey(key);
          try {
            await api('/routes');
            props.onDone();
          } catch (err) {
            storeKey(null);
            setError(
              err instanceof ApiError && err.status === 401 ? 'That is not the admin key.' : String(err),
            );
          }
        }}
      >
        {props.expired && (
          <p role="alert" class="error">
            The admin key was refused; type it again.
          </p>
        )}
        <label for="admin-key">Admin key</label>
        <input
          id="admin-key"
          name="admin-key"
          type="password"
          autoComplete="current-password"
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit">Open the dashboard</button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <p class="note">The key is kept for this browser session only, never in the URL.</p>
      </form>
    </main>
  );
}

function Page(props: { path: string }) {
  const [, section, a, b] = props.path.split('/').map((part) => decodeURIComponent(part));
  switch (section) {
    case '':
    case undefined:
      return <Overview />;
    case 'hotspots':
      return <Hotspots />;
    case 'usage':
      return <Usage />;
    case 'prompts':
      return <Prompts />;
    case 'tail':
      return (
        <Tail
          key={props.path}
          initial={a === 'route' ? { route: b } : a === 'consumer' ? { consumer: b } : {}}
        />
      );
    case 'alerts':
      return <Alerts />;
    case 'consumers':
      return <Consumers />;
    case 'playground':
      return <Playground />;
    case 'calls':
      return <CallDetail id={a ?? ''} />;
    case 'resource':
      return <ResourceCalls resource={decodeURIComponent(props.path.slice('/resource/'.length))} />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no page {props.path}. <a href="#/">Back to the overview</a>.
          </p>
        </section>
      );
  }
}

function App() {
  const [authed, setAuthed] = useState(storedKey() !== null);
  const [expired, setExpired] = useState(false);
  const path = useHashPath();
  useEffect(
    () =>
      onUnauthorised(() => {
        storeKey(null);
        setExpired(true);
        setAuthed(false);
      }),
    [],
  );
  useEffect(() => {
    const current = NAV.find((n) => n.path === path || (n.path !== '/' && path.startsWith(n.path)));
    document.title = `${current?.label ?? 'Truce'} · Truce gateway`;
  }, [path]);
  if (!authed)
    return (
      <Login
        expired={expired}
        onDone={() => {
          setExpired(false);
          setAuthed(true);
        }}
      />
    );
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to the content
      </a>
      <header>
        <span class="brand">Truce gateway</span>
        <nav aria-label="Dashboard">
          <ul>
            {NAV.map((n) => {
              const active = n.path === '/' ? path === '/' : path.startsWith(n.path);
              return (
                <li>
                  <a href={`#${n.path}`} aria-current={active ? 'page' : undefined}>
                    {n.label}
                  </a>
                </li>
              );
            })}
          </ul>
        </nav>
        <button
          type="button"
          class="signout"
          onClick={() => {
            storeKey(null);
            setAuthed(false);
          }}
        >
          Forget the key
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
