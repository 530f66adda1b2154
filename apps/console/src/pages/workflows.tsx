import { useEffect, useRef, useState } from 'preact/hooks';
import { stringify } from 'yaml';
import type { LocatedIssue, StepDefinition, StoredWorkflow } from '@yunbian/workflow';
import { api, ApiError } from '../api';
import { columnsOf, dependenciesOf } from '../graph';
import { usePoll } from '../hooks';

interface WorkflowListing {
  name: string;
  version: number;
  description?: string;
  createdAt: string;
}

const NEW_DEFINITION = `name: my-workflow
description: what it does
steps:
  - id: first
    service: echo@^1
    input:
      text: '=$input.text'
`;

/** Time between the last keystroke and the check of the definition by the server. */
const VALIDATE_AFTER_MS = 400;

/** The editable text of a stored version: YAML, without `version` (a changed definition becomes the next one). */
function editableText(stored: StoredWorkflow): string {
  const { version: _version, ...definition } = stored.definition;
  return stringify(definition, { lineWidth: 0 });
}

/** Workflows: the list, a workflow's versions and steps, and an editor checked by the server as one types. */
export function WorkflowsPage({ name }: { name?: string }) {
  const list = usePoll(() => api<WorkflowListing[]>('GET', '/workflows'), 5_000, []);
  return (
    <div>
      <h1>Workflows</h1>
      <div class="split">
        <aside>
          <ul class="picklist" id="workflow-list">
            <li>
              <a href="#/workflows/+new" class={name === '+new' ? 'active' : ''}>
                + new workflow
              </a>
            </li>
            {(list.data ?? []).map((w) => (
              <li key={w.name}>
                <a href={`#/workflows/${encodeURIComponent(w.name)}`} class={w.name === name ? 'active' : ''}>
                  {w.name} <span class="muted">v{w.version}</span>
                </a>
              </li>
            ))}
          </ul>
          {list.error && <p class="error">{list.error}</p>}
        </aside>
        <main>
          {name ? (
            <WorkflowDetail key={name} name={name} onSaved={list.reload} />
          ) : (
            <p class="muted">Pick a workflow, or start a new one.</p>
          )}
        </main>
      </div>
    </div>
  );
}

function WorkflowDetail({ name, onSaved }: { name: string; onSaved: () => void }) {
  const isNew = name === '+new';
  const [stored, setStored] = useState<StoredWorkflow & { versions?: number[] }>();
  const [text, setText] = useState(isNew ? NEW_DEFINITION : '');
  const [loadError, setLoadError] = useState<string>();
  useEffect(() => {
    if (isNew) return;
    api<StoredWorkflow & { versions: number[] }>('GET', `/workflows/${encodeURIComponent(name)}`).then(
      (w) => {
        setStored(w);
        setText(editableText(w));
      },
      (err: Error) => setLoadError(err.message),
    );
  }, [name]);
  const showVersion = async (version: number) => {
    const w = await api<StoredWorkflow>('GET', `/workflows/${encodeURIComponent(name)}/versions/${version}`);
    setStored((s) => ({ ...w, versions: s?.versions }));
    setText(editableText(w));
  };
  if (loadError) return <p class="error">{loadError}</p>;
  if (!isNew && !stored) return <p class="muted">Loading…</p>;
  return (
    <div>
      {stored && (
        <div>
          <h2>
            {stored.name} <span class="muted">version {stored.version}</span>
          </h2>
          <p>{stored.definition.description}</p>
          <p>
            versions:{' '}
            {(stored.versions ?? [stored.version]).map((v) => (
              <button
                type="button"
                key={v}
                class={v === stored.version ? 'chip active' : 'chip'}
                onClick={() => void showVersion(v)}
              >
                v{v}
              </button>
            ))}{' '}
            <a href={`#/runs?workflow=${encodeURIComponent(stored.name)}`}>runs</a>
          </p>
          <StepGraph steps={stored.definition.steps} />
        </div>
      )}
      <Editor text={text} onText={setText} onSaved={onSaved} />
    </div>
  );
}

/** The steps in columns by what they depend on. */
function StepGraph({ steps }: { steps: readonly StepDefinition[] }) {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const ids = new Set(byId.keys());
  return (
    <div class="graph" id="step-graph">
      {columnsOf(steps).map((column, i) => (
        <div class="graph-column" key={i}>
          {column.map((id) => {
            const step = byId.get(id)!;
            const deps = dependenciesOf(step, ids);
            const kind = step.service ?? step.workflow ?? (step.tiers ? 'tiers' : step.split ? 'split' : 'step');
            return (
              <div class="graph-step" key={id} data-step={id}>
                <strong>{id}</strong>
                <div class="muted">
                  {String(kind)}
                  {step.forEach !== undefined ? ' (forEach)' : ''}
                </div>
                {deps.length ? <div class="muted">after {deps.join(', ')}</div> : null}
              </div>
            );
          })}
        </div>
      ))}
    </div>
  );
}

/**
 * A YAML/JSON textarea with line numbers. Each change is checked by `POST /workflows/validate`
 * (the server's own validation: JSON Schema, then references, expressions, services); each
 * problem is shown at its line, in the gutter and in the list below.
 */
function Editor({ text, onText, onSaved }: { text: string; onText: (t: string) => void; onSaved: () => void }) {
  const [issues, setIssues] = useState<LocatedIssue[]>();
  const [checking, setChecking] = useState(false);
  const [saved, setSaved] = useState<{ ok: boolean; text: string }>();
  const gutter = useRef<HTMLDivElement>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const latest = useRef(0);

  useEffect(() => {
    const call = ++latest.current;
    setChecking(true);
    const timer = setTimeout(() => {
      api<{ valid: boolean; issues: LocatedIssue[] }>('POST', '/workflows/validate', text, {
        contentType: 'application/yaml',
      })
        .then(
          (answer) => call === latest.current && setIssues(answer.issues),
          (err: Error) => call === latest.current && setIssues([{ pointer: '', message: err.message }]),
        )
        .finally(() => call === latest.current && setChecking(false));
    }, VALIDATE_AFTER_MS);
    return () => clearTimeout(timer);
  }, [text]);

  const save = async () => {
    try {
      const stored = await api<StoredWorkflow>('POST', '/workflows', text, { contentType: 'application/yaml' });
      setSaved({ ok: true, text: `stored ${stored.name} version ${stored.version}` });
      onSaved();
      if (location.hash !== `#/workflows/${encodeURIComponent(stored.name)}`)
        location.hash = `#/workflows/${encodeURIComponent(stored.name)}`;
    } catch (err) {
      const details = err instanceof ApiError ? (err.body as { details?: { issues?: LocatedIssue[] } }) : undefined;
      setSaved({ ok: false, text: (err as Error).message });
      if (details?.details?.issues) setIssues(details.details.issues);
    }
  };

  const lines = text.split('\n');
  const byLine = new Map<number, LocatedIssue[]>();
  for (const issue of issues ?? []) if (issue.line) byLine.set(issue.line, [...(byLine.get(issue.line) ?? []), issue]);
  const goTo = (line: number) => {
    const el = area.current;
    if (!el) return;
    const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(offset, offset + (lines[line - 1]?.length ?? 0));
  };

  return (
    <div class="editor-block">
      <div class="editor">
        <div class="gutter" ref={gutter} id="editor-gutter">
          {lines.map((_, i) => (
            <div
              key={i}
              class={byLine.has(i + 1) ? 'line-number bad' : 'line-number'}
              data-line={i + 1}
              title={byLine
                .get(i + 1)
                ?.map((x) => x.message)
                .join('\n')}
            >
              {i + 1}
            </div>
          ))}
        </div>
        <textarea
          id="definition"
          ref={area}
          spellcheck={false}
          value={text}
          rows={Math.max(lines.length + 1, 12)}
          onInput={(e) => onText((e.target as HTMLTextAreaElement).value)}
          onScroll={(e) => gutter.current && (gutter.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop)}
        />
      </div>
      <div class="editor-status" id="validation">
        {checking ? (
          <span class="muted">checking…</span>
        ) : issues && issues.length === 0 ? (
          <span class="ok" id="valid">
            valid
          </span>
        ) : (
          <ul class="issues" id="issues">
            {(issues ?? []).map((issue, i) => (
              <li key={i} class="issue" data-line={issue.line ?? ''}>
                {issue.line ? (
                  <a href="javascript:void 0" onClick={() => goTo(issue.line!)}>
                    line {issue.line}
                    {issue.column ? `:${issue.column}` : ''}
                  </a>
                ) : null}{' '}
                <code>{issue.pointer || '/'}</code> {issue.message}
              </li>
            ))}
          </ul>
        )}
      </div>
      <button type="button" id="save" onClick={() => void save()} disabled={!!issues?.length}>
        Save as a new version
      </button>
      {saved && (
        <p class={saved.ok ? 'ok' : 'error'} id="save-result">
          {saved.text}
        </p>
      )}
    </div>
  );
}
