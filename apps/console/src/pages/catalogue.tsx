import { useState } from 'preact/hooks';
import type { DeploymentView, InstanceRecord, ServiceRecord } from '@yunbian/contracts';
import { api } from '../api';
import { useCatalogEvents, usePoll } from '../hooks';

/** Services (where they can run), instances with their queues; deploy and drain. */
export function CataloguePage() {
  const { data, error, reload } = usePoll(
    async () => {
      const [services, instances, deployments] = await Promise.all([
        api<ServiceRecord[]>('GET', '/services'),
        api<InstanceRecord[]>('GET', '/instances'),
        api<DeploymentView[]>('GET', '/deployments'),
      ]);
      return { services, instances, deployments };
    },
    5_000,
    [],
  );
  useCatalogEvents(reload);
  const [service, setService] = useState('');
  const [node, setNode] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();

  if (!data) return <p class="muted">{error ?? 'Loading…'}</p>;
  const chosen = data.services.find((s) => `${s.name}@${s.version}` === service) ?? data.services[0];
  const nodes = chosen?.nodes ?? [];
  const nodeId = nodes.includes(node) ? node : nodes[0];

  const deploy = async (event: Event) => {
    event.preventDefault();
    if (!chosen || !nodeId) return;
    try {
      const created = await api<InstanceRecord>('POST', '/instances', {
        service: `${chosen.name}@${chosen.version}`,
        nodeId,
      });
      setMessage({ ok: true, text: `instance ${created.id} of ${created.service} starting on ${nodeId}` });
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    }
    reload();
  };
  const drain = async (id: string) => {
    try {
      await api('DELETE', `/instances/${encodeURIComponent(id)}`);
      setMessage({ ok: true, text: `instance ${id} draining` });
    } catch (err) {
      setMessage({ ok: false, text: (err as Error).message });
    }
    reload();
  };

  return (
    <div>
      <h1>Catalogue and deployments</h1>
      {error && <p class="error">{error}</p>}
      <form class="inline" id="deploy-form" onSubmit={deploy}>
        <label>
          service{' '}
          <select
            id="deploy-service"
            value={chosen ? `${chosen.name}@${chosen.version}` : ''}
            onChange={(e) => setService((e.target as HTMLSelectElement).value)}
          >
            {data.services.map((s) => (
              <option key={`${s.name}@${s.version}`} value={`${s.name}@${s.version}`}>
                {s.name}@{s.version}
              </option>
            ))}
          </select>
        </label>{' '}
        <label>
          on node{' '}
          <select id="deploy-node" value={nodeId} onChange={(e) => setNode((e.target as HTMLSelectElement).value)}>
            {nodes.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>{' '}
        <button type="submit" id="deploy" disabled={!chosen || !nodeId}>
          Deploy
        </button>
      </form>
      {message && (
        <p class={message.ok ? 'ok' : 'error'} id="catalogue-message">
          {message.text}
        </p>
      )}
      <h2>Instances</h2>
      <table id="instances">
        <thead>
          <tr>
            <th>instance</th>
            <th>service</th>
            <th>node</th>
            <th>status</th>
            <th>queue</th>
            <th>in flight</th>
            <th>latency</th>
            <th>restarts</th>
            <th>owner</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data.instances.map((i) => (
            <tr key={i.id} data-instance={i.id}>
              <td>
                <code>{i.id}</code>
              </td>
              <td>
                {i.service}@{i.version}
                {i.model ? ` (model ${i.model.name}@${i.model.version})` : ''}
              </td>
              <td>{i.nodeId}</td>
              <td class="instance-status">
                <span class={`badge ${i.status}`}>{i.status}</span>
                {i.lastError && <div class="error">{i.lastError}</div>}
              </td>
              <td>{i.queued}</td>
              <td>{i.inFlight}</td>
              <td>{i.latencyMs === undefined ? '—' : `${Math.round(i.latencyMs)} ms`}</td>
              <td>{i.restarts}</td>
              <td>{i.owner ? `${i.owner.kind} ${i.owner.name}` : 'one-off'}</td>
              <td>
                {i.status !== 'draining' && (
                  <button type="button" class="drain" onClick={() => void drain(i.id)}>
                    Drain
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Deployments</h2>
      <table id="deployments">
        <thead>
          <tr>
            <th>deployment</th>
            <th>service</th>
            <th>replicas</th>
            <th>ready / desired</th>
            <th>where</th>
            <th>problems</th>
          </tr>
        </thead>
        <tbody>
          {data.deployments.map((d) => (
            <tr key={d.spec.name} data-deployment={d.spec.name}>
              <td>
                {d.spec.name} <span class="muted">rev {d.revision}</span>
              </td>
              <td>{d.spec.service}</td>
              <td>
                {'count' in d.spec.replicas
                  ? d.spec.replicas.count
                  : `${d.spec.replicas.min}–${d.spec.replicas.max} (autoscaled)`}
                {d.spec.perSite ? ' per site' : ''}
              </td>
              <td>
                {d.status.ready} / {d.status.desired}
              </td>
              <td>{d.status.scopes.map((s) => `${s.scope}: ${s.ready}/${s.desired}`).join(', ') || '—'}</td>
              <td class="error">{d.status.problems.join('; ')}</td>
            </tr>
          ))}
          {data.deployments.length === 0 && (
            <tr>
              <td colSpan={6} class="muted">
                no deployments declared (POST /deployments)
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <h2>Services</h2>
      <table id="services">
        <thead>
          <tr>
            <th>service</th>
            <th>description</th>
            <th>can run on</th>
            <th>instances (ready / all)</th>
            <th>input schema</th>
          </tr>
        </thead>
        <tbody>
          {data.services.map((s) => (
            <tr key={`${s.name}@${s.version}`}>
              <td>
                {s.name}@{s.version}
              </td>
              <td>{s.description}</td>
              <td>{s.nodes.join(', ') || '—'}</td>
              <td>
                {s.instances.ready} / {s.instances.total}
              </td>
              <td>
                <details>
                  <summary>schemas</summary>
                  <pre>
                    {JSON.stringify({ input: s.input, output: s.output, requirements: s.requirements }, null, 2)}
                  </pre>
                </details>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
