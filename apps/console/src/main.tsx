import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Principal } from '@yunbian/contracts';
import { api, credentials, whenUnauthenticated } from './api';
import { routeOf } from './format';
import { CataloguePage } from './pages/catalogue';
import { ModelsPage } from './pages/models';
import { RunPage, RunsPage } from './pages/runs';
import { TopologyPage } from './pages/topology';
import { WorkflowsPage } from './pages/workflows';

const PAGES = [
  ['topology', 'Topology'],
  ['catalogue', 'Catalogue'],
  ['workflows', 'Workflows'],
  ['runs', 'Runs'],
  ['models', 'Models'],
] as const;

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

/** Asks for an API key and checks it with GET /auth/whoami before keeping it for this tab. */
function Login({ onLogin, problem }: { onLogin: (p: Principal) => void; problem?: string }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(problem);
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      const principal = await api<Principal>('GET', '/auth/whoami', undefined, { key: key.trim() });
      credentials.set(key.trim());
      onLogin(principal);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <form class="login" id="login" onSubmit={submit}>
      <h1>Yunbian console</h1>
      <p>An API key (yb_…) or a JWT; it is kept in this tab only (sessionStorage).</p>
      <input
        id="api-key"
        type="password"
        autocomplete="off"
        placeholder="yb_…"
        value={key}
        onInput={(e) => setKey((e.target as HTMLInputElement).value)}
      />{' '}
      <button type="submit" id="sign-in">
        Sign in
      </button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

function App() {
  const [principal, setPrincipal] = useState<Principal>();
  const [problem, setProblem] = useState<string>();
  const [checked, setChecked] = useState(false);
  const hash = useHash();
  useEffect(() => {
    whenUnauthenticated(() => {
      credentials.clear();
      setPrincipal(undefined);
      setProblem('the API no longer accepts this key: sign in again');
    });
    if (!credentials.get()) return setChecked(true);
    api<Principal>('GET', '/auth/whoami')
      .then(setPrincipal, () => undefined)
      .finally(() => setChecked(true));
  }, []);
  if (!checked) return null;
  if (!principal) return <Login onLogin={setPrincipal} problem={problem} />;
  const [path, query = ''] = hash.split('?');
  const [page = 'topology', id] = routeOf(path);
  const signOut = () => {
    credentials.clear();
    setPrincipal(undefined);
    setProblem(undefined);
  };
  return (
    <div>
      <header>
        <strong class="brand">Yunbian</strong>
        <nav>
          {PAGES.map(([p, label]) => (
            <a key={p} href={`#/${p}`} class={p === page ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        <span class="who" id="who">
          {principal.kind === 'key'
            ? `key ${principal.id}${principal.name ? ` (${principal.name})` : ''}`
            : principal.id}
          , {principal.role}
          {principal.sites ? `, sites ${principal.sites.join(', ')}` : ''}{' '}
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <div class="page">
        {page === 'topology' && <TopologyPage />}
        {page === 'catalogue' && <CataloguePage />}
        {page === 'workflows' && <WorkflowsPage name={id} />}
        {page === 'runs' && (id ? <RunPage id={id} /> : <RunsPage query={query} />)}
        {page === 'models' && <ModelsPage />}
      </div>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
