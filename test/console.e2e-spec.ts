import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import type { InstanceRecord } from '@yunbian/contracts';
import { ROOT, TestCluster } from './support/cluster';

jest.setTimeout(240_000);

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'docs/console');
/** Generous: six processes share two cores while this runs. */
const UI_WAIT_MS = 45_000;

/** A definition with a typo on line 5 (`sevice`), for the editor to show in place. */
const INVALID = `name: console-broken
description: a step without a service
steps:
  - id: first
    sevice: echo@^1
    input:
      value: '=$input.text'
`;

describe('web console in a real browser (chromium, real stack)', () => {
  let cluster: TestCluster;
  let browser: Browser;
  let page: Page;
  const edge = {
    id: `console-edge-${process.pid}`,
    site: 'factory',
    tier: 'edge' as const,
    cpuCores: 2,
    memoryMb: 2048,
    costPerHour: 0.1,
  };
  const cloud = {
    id: `console-cloud-${process.pid}`,
    site: 'cloud-hz',
    tier: 'cloud' as const,
    cpuCores: 4,
    memoryMb: 4096,
    costPerHour: 0.4,
  };

  /** Waits until the page's text inside `selector` contains `text`. */
  const waitForText = async (selector: string, text: string, timeout = UI_WAIT_MS) => {
    try {
      await page.waitForFunction(
        (sel: string, t: string) => [...document.querySelectorAll(sel)].some((el) => el.textContent?.includes(t)),
        { timeout, polling: 200 },
        selector,
        text,
      );
    } catch (err) {
      // Say what the page showed instead, so a failure can be read without rerunning.
      const shown = await page.evaluate(
        (sel: string) => (document.querySelector(sel) ?? document.body).textContent?.slice(0, 1_500),
        selector,
      );
      throw new Error(
        `${(err as Error).message}: waiting for "${text}" in ${selector} at ${page.url()}; shown: ${shown}`,
      );
    }
  };
  /** Waits until the select `selector` offers `value` (Preact sets option values as properties, not attributes). */
  const waitForOption = (selector: string, value: string) =>
    page.waitForFunction(
      (sel: string, v: string) =>
        [...((document.querySelector(sel) as HTMLSelectElement | null)?.options ?? [])].some((o) => o.value === v),
      { timeout: UI_WAIT_MS, polling: 200 },
      selector,
      value,
    );
  const textOf = (selector: string) => page.$eval(selector, (el) => el.textContent ?? '');
  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: the console test drives Debian's chromium; apt-get install -y chromium`);
    mkdirSync(SHOTS, { recursive: true });
    cluster = await TestCluster.start();
    await cluster.startOrchestrator();
    await Promise.all([cluster.startAgentAlive(edge), cluster.startAgentAlive(cloud)]);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1360, height: 900 });
    page.on('pageerror', (err) => process.stderr.write(`page error: ${String(err)}\n`));
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('loads the page without a credential, while its data calls need one', async () => {
    const html = await fetch(`${cluster.api}/console/`);
    expect(html.status).toBe(200);
    expect(await html.text()).toContain('console.js');
    expect((await fetch(`${cluster.api}/console/console.js`)).status).toBe(200);
    expect((await fetch(`${cluster.api}/nodes`)).status).toBe(401);
  });

  it('validates a definition without storing it: pointers, and lines for text bodies', async () => {
    const validate = async (body: string, type: string) => {
      const response = await fetch(`${cluster.api}/workflows/validate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${cluster.adminKey}`, 'content-type': type },
        body,
      });
      return {
        status: response.status,
        body: (await response.json()) as { valid: boolean; issues: Record<string, unknown>[] },
      };
    };
    const yaml = await validate(INVALID, 'application/yaml');
    expect(yaml.status).toBe(200);
    expect(yaml.body.valid).toBe(false);
    expect(yaml.body.issues).toContainEqual({
      pointer: '/steps/0/sevice',
      message: 'is not an accepted field',
      line: 5,
      column: 5,
    });
    const json = await validate(
      JSON.stringify({ name: 'x', steps: [{ id: 'a', service: 'echo@^1' }] }),
      'application/json',
    );
    expect(json.body).toEqual({ valid: true, issues: [] });
    const broken = await validate('name: x\nsteps: [\n', 'application/yaml');
    expect(broken.body.valid).toBe(false);
    expect(broken.body.issues[0].line).toBeGreaterThanOrEqual(2);
    expect((await validate('['.repeat(12_000), 'application/yaml')).status).toBe(413);
    expect((await cluster.call('GET', '/workflows/x')).status).toBe(404);
  });

  it('refuses a wrong key, then signs in with the admin key and shows the nodes of each site', async () => {
    await page.goto(`${cluster.api}/console`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#api-key');
    await page.type('#api-key', 'yb_000000000000_wrong');
    await page.click('#sign-in');
    await waitForText('#login .error', '401');

    await page.$eval('#api-key', (el) => ((el as HTMLInputElement).value = ''));
    await page.type('#api-key', cluster.adminKey);
    await page.click('#sign-in');
    await waitForText('#who', 'admin');
    await waitForText(`[data-node="${edge.id}"]`, 'alive');
    await waitForText(`[data-node="${cloud.id}"]`, 'alive');
    expect(await textOf('[data-site="factory"]')).toContain(edge.id);
    expect(await textOf('[data-site="cloud-hz"]')).toContain(cloud.id);
    expect(await textOf(`[data-node="${edge.id}"]`)).toContain('edge');
    // The links table lists both directions between the two sites.
    await waitForText('table.links', 'factory');
    expect(await textOf('table.links')).toContain('cloud-hz');
    // The key stays in this tab: a reload does not ask again.
    await page.reload({ waitUntil: 'domcontentloaded' });
    await waitForText('#who', 'admin');
  });

  it('deploys an instance from the catalogue page, shows it ready on its node, and drains it', async () => {
    await page.goto(`${cluster.api}/console/#/catalogue`, { waitUntil: 'domcontentloaded' });
    await waitForOption('#deploy-service', 'echo@1.0.0');
    await page.select('#deploy-service', 'echo@1.0.0');
    await waitForOption('#deploy-node', edge.id);
    await page.select('#deploy-node', edge.id);
    await page.click('#deploy');
    await waitForText('#catalogue-message', 'starting on');
    const message = await textOf('#catalogue-message');
    const id = /instance (\S+) of/.exec(message)?.[1];
    expect(id).toBeDefined();
    // The page shows what the catalogue holds: the same instance, ready, on that node.
    await waitForText(`tr[data-instance="${id}"] .instance-status`, 'ready');
    const instance = await cluster.get<InstanceRecord>(`/instances/${id}`);
    expect(instance).toMatchObject({ service: 'echo', nodeId: edge.id, status: 'ready' });
    // A declared deployment shows with its replicas as the reconciler brings them up.
    const declared = await cluster.call('POST', '/deployments', {
      name: 'console-echoes',
      service: 'echo@^1',
      replicas: { count: 1 },
      selector: { nodes: [edge.id] },
    });
    expect(declared.status).toBe(201);
    await waitForText('tr[data-deployment="console-echoes"]', '1 / 1');
    await shot('catalogue');
    await page.goto(`${cluster.api}/console/#/topology`, { waitUntil: 'domcontentloaded' });
    await waitForText(`[data-node="${edge.id}"] [data-instance="${id}"]`, 'echo@1.0.0');
    await shot('topology');

    // Drained from the catalogue page, it leaves the list (the deployment's replica stays).
    await page.goto(`${cluster.api}/console/#/catalogue`, { waitUntil: 'domcontentloaded' });
    await waitForText(`tr[data-instance="${id}"]`, 'ready');
    await page.click(`tr[data-instance="${id}"] button.drain`);
    await waitForText('#catalogue-message', `instance ${id} draining`);
    await page.waitForFunction(
      (i: string) => !document.querySelector(`tr[data-instance="${i}"]`),
      { timeout: UI_WAIT_MS },
      id!,
    );
    expect((await cluster.call('GET', `/instances/${id}`)).status).toBe(404);
    expect(await textOf('tr[data-deployment="console-echoes"]')).toContain('1 / 1');
  });

  it('shows the problems of an invalid definition at their line, and saves nothing', async () => {
    await page.goto(`${cluster.api}/console/#/workflows/+new`, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#definition');
    await page.$eval(
      '#definition',
      (el, text) => {
        const area = el as HTMLTextAreaElement;
        area.value = text;
        area.dispatchEvent(new Event('input', { bubbles: true }));
      },
      INVALID,
    );
    // The server's validation names the unknown property and the missing service, at line 5 and at the step (line 4).
    await waitForText('#issues', 'sevice');
    const issues = await page.$$eval('#issues .issue', (items) =>
      items.map((li) => ({ line: li.getAttribute('data-line'), text: li.textContent ?? '' })),
    );
    expect(issues.some((i) => i.line === '5' && i.text.includes('/steps/0/sevice'))).toBe(true);
    expect(await page.$eval('#editor-gutter [data-line="5"]', (el) => el.className)).toContain('bad');
    expect(await page.$eval('#editor-gutter [data-line="2"]', (el) => el.className)).not.toContain('bad');
    expect(await page.$eval('#save', (el) => (el as HTMLButtonElement).disabled)).toBe(true);
    await shot('workflow-editor');

    // Fixed in place, it validates, and saving stores it.
    await page.$eval('#definition', (el) => {
      const area = el as HTMLTextAreaElement;
      area.value = area.value.replace('sevice:', 'service:');
      area.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.waitForSelector('#valid', { timeout: UI_WAIT_MS });
    expect((await cluster.call('GET', '/workflows/console-broken')).status).toBe(404);
    await page.click('#save');
    // Stored, the page moves to the workflow it stored.
    await waitForText('h2', 'console-broken version 1');
    expect((await cluster.call('GET', '/workflows/console-broken')).status).toBe(200);
  });

  it('starts a run from the runs page and follows it to succeeded on its page, with its timeline', async () => {
    const created = await cluster.call('POST', '/workflows', {
      name: 'console-demo',
      description: 'two echoes, one after the other',
      steps: [
        { id: 'fetch', service: 'echo@^1', input: { value: '=$input.text' } },
        { id: 'shout', service: 'echo@^1', input: { value: '=$uppercase($steps.fetch.output.value)', delayMs: 1500 } },
        {
          id: 'each',
          service: 'echo@^1',
          forEach: { items: '$input.items', concurrency: 4 },
          input: { value: '=$item', delayMs: 300 },
        },
      ],
      output: { text: '=$steps.shout.output.value' },
    });
    expect(created.status).toBe(201);
    await page.goto(`${cluster.api}/console/#/runs?workflow=console-demo`, { waitUntil: 'domcontentloaded' });
    await waitForOption('#start-workflow', 'console-demo');
    await page.select('#start-workflow', 'console-demo');
    await page.$eval('#start-input', (el) => {
      const area = el as HTMLTextAreaElement;
      area.value = '{ "text": "hello from the console", "items": [1, 2, 3, 4] }';
      area.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await page.click('#start');
    await page.waitForFunction(() => location.hash.startsWith('#/runs/'), { timeout: UI_WAIT_MS });
    const runId = decodeURIComponent((await page.evaluate(() => location.hash)).slice('#/runs/'.length));
    // Live: the page follows the run until it ends (shout takes 1.5 s, so it is seen running first on most machines).
    await waitForText('#run-status', 'succeeded', 90_000);
    expect(await textOf('#run-output')).toContain('HELLO FROM THE CONSOLE');
    expect(await textOf('#run-input')).toContain('hello from the console');
    expect(await textOf('tr[data-step="fetch"]')).toContain('succeeded');
    expect(await textOf('tr[data-step="shout"]')).toContain(edge.id);
    // The timeline has a row for the node that ran both steps, with a bar for each.
    const gantt = await textOf('#gantt');
    expect(gantt).toContain(edge.id);
    expect(gantt).toContain('fetch');
    expect(gantt).toContain('shout');
    // The forEach items ran side by side: a bar each, on lines of their own, and the step counts them done.
    expect(await textOf('tr[data-step="each"]')).toContain('4 / 4 done');
    const tops = await page.$$eval('.gantt-bar', (bars) => bars.map((b) => (b as HTMLElement).style.top));
    expect(tops.length).toBe(6);
    expect(new Set(tops).size).toBeGreaterThan(1);
    // An attempt's placement explanation opens on a click.
    await page.click('.gantt-bar');
    await page.waitForSelector('#attempt', { timeout: UI_WAIT_MS });
    expect(await textOf('#attempt')).toContain(edge.id);
    await shot('run');
    // The page and the API agree.
    const run = await cluster.get<{ status: string }>(`/runs/${runId}`);
    expect(run.status).toBe('succeeded');

    await page.goto(`${cluster.api}/console/#/runs`, { waitUntil: 'domcontentloaded' });
    await waitForText(`tr[data-run="${runId}"]`, 'succeeded');
    await page.select('#filter-status', 'failed');
    await page.waitForFunction(
      (id: string) => !document.querySelector(`tr[data-run="${id}"]`) && location.hash.includes('status=failed'),
      { timeout: UI_WAIT_MS },
      runId,
    );
  });

  it('cancels a running run from its page, then retries it to succeeded', async () => {
    const created = await cluster.call('POST', '/workflows', {
      name: 'console-slow',
      steps: [{ id: 'wait', service: 'echo@^1', input: { value: 'done', delayMs: 8_000 } }],
      output: { value: '=$steps.wait.output.value' },
    });
    expect(created.status).toBe(201);
    const started = await cluster.call('POST', '/workflows/console-slow/runs', { input: {} });
    expect(started.status).toBe(202);
    const runId = String(started.body.id);
    await page.goto(`${cluster.api}/console/#/runs/${runId}`, { waitUntil: 'domcontentloaded' });
    await waitForText('#run-status', 'running');
    await page.click('#cancel');
    await waitForText('#run-status', 'cancelled');
    expect((await cluster.get<{ status: string }>(`/runs/${runId}`)).status).toBe('cancelled');
    await page.click('#retry');
    // Retried, the page follows the run again until it ends.
    await waitForText('#run-status', 'succeeded', 90_000);
    expect(await textOf('#run-output')).toContain('done');
    expect(await textOf('tr[data-step="wait"]')).toContain('succeeded');
  });

  it('shows the models with their inputs, versions and aliases, and the datasets', async () => {
    await page.goto(`${cluster.api}/console/#/models`, { waitUntil: 'domcontentloaded' });
    await waitForText('#models', 'no models registered');
    const bytes = readFileSync(path.join(ROOT, 'models/digits/digits-device.onnx'));
    const uploaded = await cluster.fetch('/models?name=console-digits', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(uploaded.status).toBe(201);
    const meta = (await uploaded.json()) as { sha256: string; inputs: { name: string }[] };
    expect((await cluster.call('PUT', '/models/console-digits/aliases/stable', { version: 1 })).status).toBe(200);
    expect((await cluster.call('POST', '/datasets', { source: 'digits', part: 'public', to: 100 })).status).toBe(201);
    // The page follows the registry by itself (it polls): no reload.
    await waitForText('tr[data-model="console-digits"]', meta.inputs[0].name);
    expect(await textOf('tr[data-model="console-digits"]')).toContain('v1');
    await page.click('tr[data-model="console-digits"] a');
    await waitForText('#model-detail', meta.sha256.slice(0, 12));
    expect(await textOf('#model-detail')).toContain('stable → v1');
    await waitForText('#datasets', 'digits-public-0-100');
    await shot('models');
  });
});
