import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DIST } from './support/cluster';

const AGENT = path.join(DIST, 'apps/agent/src/main.js');

function runAgent(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [AGENT, ...args], {
    env: { PATH: process.env.PATH, NATS_URL: 'nats://127.0.0.1:1', ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
}

describe('agent start-up with a bad node descriptor', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'yunbian-agent-'));

  it('exits with status 2 naming the bad field of a file', () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'id: edge-a\nsite: s1\ntier: edge\ncostPerHour: cheap\n');
    const result = runAgent(['--node', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`invalid node descriptor (${file})`);
    expect(result.stderr).toContain('/costPerHour must be number (got "cheap")');
  });

  it('names every bad field from the environment', () => {
    const result = runAgent([], {
      YUNBIAN_NODE_ID: 'edge a',
      YUNBIAN_NODE_TIER: 'fog',
      YUNBIAN_NODE_COST_PER_HOUR: '1',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('/id must match pattern');
    expect(result.stderr).toContain('/tier must be one of "device", "edge", "cloud" (got "fog")');
    expect(result.stderr).toContain('/site is required');
  });

  it('says when the descriptor file is missing', () => {
    const result = runAgent(['--node', path.join(dir, 'nope.yaml')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/nope\.yaml.*cannot be read/);
  });
});
