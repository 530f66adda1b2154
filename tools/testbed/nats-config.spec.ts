import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findNatsServer, processNatsTrust, writeServerAuthInclude } from '@yunbian/common';
import { siteLeafDenyExports } from '@yunbian/contracts';
import { planTestbed } from './plan';
import { natsConfig } from './testbed';
import { parseTopology } from './topology';

const plan = planTestbed(
  parseTopology(
    {
      sites: [
        { name: 'cloud', kind: 'cloud', nodes: [] },
        { name: 'factory-a', kind: 'edge', uplink: { to: 'cloud', upMbps: 20, downMbps: 20, rttMs: 40 }, nodes: [] },
      ],
    },
    'test',
  ),
);
const site = (name: string) => plan.sites.find((s) => s.site.name === name)!;

describe('the sites’ NATS configs keep site-local subjects off the leaf connection', () => {
  it('the testbed’s leaf denies exporting every subject of siteLeafDenyExports, the hub has no remote', () => {
    const leaf = natsConfig(site('factory-a'), '/tmp/x', '/tmp/trust');
    expect(leaf).toContain(`deny_exports: ${JSON.stringify(siteLeafDenyExports('factory-a'))}`);
    expect(natsConfig(site('cloud'), '/tmp/x', '/tmp/trust')).not.toContain('deny_exports');
  });

  it('the edge compose stack sets the same list for its site as leaf.conf expects', () => {
    const root = path.resolve(__dirname, '../..');
    const compose = readFileSync(path.join(root, 'compose/docker-compose.edge.yml'), 'utf8');
    const line = compose.split('\n').find((l) => l.includes('YUNBIAN_LEAF_DENY_EXPORTS:'));
    expect(line).toBeDefined();
    // Compose reads `$$` as a literal `$`.
    const value = line!
      .slice(line!.indexOf(':') + 1)
      .trim()
      .replace(/^'|'$/g, '')
      .replace(/\$\$/g, '$');
    expect(JSON.parse(value)).toEqual(siteLeafDenyExports('factory-sz'));
    expect(readFileSync(path.join(root, 'compose/nats/leaf.conf'), 'utf8')).toMatch(
      /deny_exports: \$YUNBIAN_LEAF_DENY_EXPORTS/,
    );
  });

  const server = findNatsServer();
  (server ? it : it.skip)('nats-server accepts the testbed’s leaf config', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yb-nats-conf-'));
    const file = path.join(dir, 'leaf.conf');
    await writeServerAuthInclude(dir, await processNatsTrust());
    writeFileSync(file, natsConfig(site('factory-a'), path.join(dir, 'js'), path.join(dir, 'trust')));
    expect(execFileSync(server!, ['-c', file, '-t'], { encoding: 'utf8', stdio: 'pipe' })).toBeDefined();
  });
});
