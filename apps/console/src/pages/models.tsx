import { useState } from 'preact/hooks';
import type { DatasetMeta, ModelAlias } from '@yunbian/contracts';
import type { ModelMeta } from '@yunbian/models';
import { api } from '../api';
import { bytes, preview } from '../format';
import { usePoll } from '../hooks';

const tensors = (values: ModelMeta['inputs']) =>
  values.map((v) => `${v.name}: ${v.type ?? 'value'}[${(v.shape ?? []).join(', ')}]`).join('; ');

/** Models (latest versions, then a model's versions, aliases and lineage) and datasets. */
export function ModelsPage() {
  const models = usePoll(() => api<ModelMeta[]>('GET', '/models'), 5_000, []);
  const datasets = usePoll(() => api<DatasetMeta[]>('GET', '/datasets'), 10_000, []);
  const [open, setOpen] = useState<string>();
  return (
    <div>
      <h1>Models</h1>
      {models.error && <p class="error">{models.error}</p>}
      <table id="models">
        <thead>
          <tr>
            <th>model</th>
            <th>latest</th>
            <th>size</th>
            <th>inputs</th>
            <th>outputs</th>
            <th>made from</th>
            <th>registered</th>
          </tr>
        </thead>
        <tbody>
          {(models.data ?? []).map((m) => (
            <tr key={m.name} data-model={m.name}>
              <td>
                <a href="javascript:void 0" onClick={() => setOpen(open === m.name ? undefined : m.name)}>
                  {m.name}
                </a>
              </td>
              <td>v{m.version}</td>
              <td>{bytes(m.size)}</td>
              <td>
                <code>{tensors(m.inputs)}</code>
              </td>
              <td>
                <code>{tensors(m.outputs)}</code>
              </td>
              <td>
                {m.derivedFrom ? `${m.derivedFrom.name}@${m.derivedFrom.version} (${m.derivedFrom.recipe})` : '—'}
              </td>
              <td>{new Date(m.createdAt).toLocaleString()}</td>
            </tr>
          ))}
          {models.data?.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                no models registered
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {open && <ModelDetail key={open} name={open} />}
      <h1>Datasets</h1>
      <table id="datasets">
        <thead>
          <tr>
            <th>dataset</th>
            <th>samples</th>
            <th>shape</th>
            <th>labelled</th>
            <th>privacy</th>
            <th>size</th>
            <th>source</th>
          </tr>
        </thead>
        <tbody>
          {(datasets.data ?? []).map((d) => (
            <tr key={d.name}>
              <td>{d.name}</td>
              <td>{d.count}</td>
              <td>[{d.shape.join(', ')}]</td>
              <td>{d.labelled ? `yes (${d.classes ?? '?'} classes)` : 'no'}</td>
              <td>{d.privacy}</td>
              <td>{bytes(d.size)}</td>
              <td>
                {d.source.kind === 'digits' ? `digits ${d.source.part} ${d.source.from}–${d.source.to}` : 'upload'}
              </td>
            </tr>
          ))}
          {datasets.data?.length === 0 && (
            <tr>
              <td colSpan={7} class="muted">
                no datasets registered
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

function ModelDetail({ name }: { name: string }) {
  const detail = usePoll(
    async () => {
      const [model, aliases] = await Promise.all([
        api<{ name: string; versions: ModelMeta[] }>('GET', `/models/${encodeURIComponent(name)}`),
        api<ModelAlias[]>('GET', `/models/${encodeURIComponent(name)}/aliases`),
      ]);
      return { versions: model.versions, aliases };
    },
    10_000,
    [name],
  );
  if (!detail.data) return <p class="muted">{detail.error ?? 'Loading…'}</p>;
  return (
    <section class="model-detail" id="model-detail">
      <h2>{name}</h2>
      <p>
        aliases:{' '}
        {detail.data.aliases.length
          ? detail.data.aliases
              .map(
                (a) =>
                  `${a.alias} → v${a.version}${a.canary ? ` (canary v${a.canary.version} at ${Math.round(a.canary.share * 100)} %)` : ''}`,
              )
              .join(', ')
          : 'none'}
      </p>
      <table>
        <thead>
          <tr>
            <th>version</th>
            <th>size</th>
            <th>sha256</th>
            <th>made from</th>
            <th>compression</th>
            <th>split</th>
            <th>training</th>
          </tr>
        </thead>
        <tbody>
          {detail.data.versions.map((v) => (
            <tr key={v.version}>
              <td>v{v.version}</td>
              <td>{bytes(v.size)}</td>
              <td>
                <code>{v.sha256.slice(0, 12)}…</code>
              </td>
              <td>
                {v.derivedFrom ? `${v.derivedFrom.name}@${v.derivedFrom.version} (${v.derivedFrom.recipe})` : '—'}
              </td>
              <td>
                {v.compression
                  ? `${v.compression.recipe}: ${v.compression.sizeRatio.toFixed(2)}× smaller, accuracy ${v.compression.accuracyDeltaPoints >= 0 ? '+' : ''}${v.compression.accuracyDeltaPoints.toFixed(2)} points`
                  : '—'}
              </td>
              <td>{v.split ? `${v.split.part} of cut ${v.split.cut}` : '—'}</td>
              <td>
                {v.training ? (
                  <details>
                    <summary>lineage</summary>
                    <pre>{preview(v.training, 2_000)}</pre>
                  </details>
                ) : (
                  '—'
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
