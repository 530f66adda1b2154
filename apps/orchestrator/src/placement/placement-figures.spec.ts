import { observationsByService } from './placement-figures';

describe('observationsByService', () => {
  it('groups learnt times one KV-safe key per service, in a stable order', () => {
    const grouped = observationsByService([
      { service: 'echo@1.0.0', nodeClass: 'x86_64|camera|cpu1', ms: 300, count: 4 },
      { service: 'ocr@2.1.0', nodeClass: 'arm64||cpu0.5', ms: 80, count: 1 },
      { service: 'echo@1.0.0', nodeClass: 'arm64||cpu1', ms: 310, count: 2 },
    ]);
    expect([...grouped.keys()]).toEqual([
      `compute.${Buffer.from('echo@1.0.0').toString('base64url')}`,
      `compute.${Buffer.from('ocr@2.1.0').toString('base64url')}`,
    ]);
    for (const key of grouped.keys()) expect(key).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
    expect([...grouped.values()][0].map((o) => o.nodeClass)).toEqual(['arm64||cpu1', 'x86_64|camera|cpu1']);
  });
});
