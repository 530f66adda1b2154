import type { InstanceRecord, NetworkView, NodeRecord } from '@yunbian/contracts';
import { api } from '../api';
import { useCatalogEvents, usePoll } from '../hooks';
import { figure, limitsText, sitesOf } from '../topology';

/** Sites, their nodes and instances, and the links between sites: live from the catalogue's event stream, and read every 5 s. */
export function TopologyPage() {
  const { data, error, reload } = usePoll(
    async () => {
      const [nodes, instances, network] = await Promise.all([
        api<NodeRecord[]>('GET', '/nodes'),
        api<InstanceRecord[]>('GET', '/instances'),
        api<NetworkView>('GET', '/network'),
      ]);
      return { nodes, instances, network };
    },
    5_000,
    [],
  );
  useCatalogEvents(reload);
  if (!data) return <p class="muted">{error ?? 'Loading…'}</p>;
  const sites = sitesOf(data.nodes, data.instances, data.network.sites);
  return (
    <div>
      <h1>Topology</h1>
      {error && <p class="error">{error}</p>}
      <p class="muted">
        {data.nodes.length} nodes at {sites.length} sites, {data.instances.length} instances
      </p>
      {sites.map((site) => (
        <section class="site" data-site={site.site} key={site.site}>
          <h2>{site.site}</h2>
          <div class="cards">
            {site.nodes.map((n) => (
              <div class={`card node status-${n.status}`} data-node={n.id} key={n.id}>
                <div class="card-head">
                  <strong>{n.id}</strong> <span class={`badge ${n.status}`}>{n.status}</span>{' '}
                  <span class="badge tier">{n.tier}</span>
                </div>
                {n.statusReason && <div class="muted">{n.statusReason}</div>}
                <div>tags: {n.tags.length ? n.tags.join(', ') : '—'}</div>
                <div>
                  load:{' '}
                  {n.load
                    ? `CPU ${Math.round(n.load.cpuPercent)} %, ${Math.round(n.load.memoryUsedMb)} / ${Math.round(n.load.memoryTotalMb)} MB, load ${n.load.loadAverage1m.toFixed(2)}`
                    : '—'}
                </div>
                <div>limits: {limitsText(n)}</div>
                <ul class="instances">
                  {n.instances.map((i) => (
                    <li key={i.id} data-instance={i.id}>
                      <code>
                        {i.service}@{i.version}
                      </code>{' '}
                      <span class={`badge ${i.status}`}>{i.status}</span>
                      {i.model && (
                        <span class="model">
                          {' '}
                          model {i.model.name}@{i.model.version}
                        </span>
                      )}
                      <span class="muted">
                        {' '}
                        queued {i.queued}, in flight {i.inFlight}
                      </span>
                    </li>
                  ))}
                  {n.instances.length === 0 && <li class="muted">no instances</li>}
                </ul>
              </div>
            ))}
          </div>
        </section>
      ))}
      <h2>Links</h2>
      <table class="links">
        <thead>
          <tr>
            <th>from</th>
            <th>to</th>
            <th>RTT</th>
            <th>bandwidth</th>
          </tr>
        </thead>
        <tbody>
          {data.network.links.map((l) => (
            <tr key={`${l.from}-${l.to}`}>
              <td>{l.from}</td>
              <td>{l.to}</td>
              <td>{figure(l.rttMs, 'ms', l.rttSource)}</td>
              <td>{figure(l.bandwidthMbps, 'Mbit/s', l.bandwidthSource)}</td>
            </tr>
          ))}
          {data.network.links.length === 0 && (
            <tr>
              <td colSpan={4} class="muted">
                one site: no links between sites
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
