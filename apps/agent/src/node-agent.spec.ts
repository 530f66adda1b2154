import type { InstanceReport } from '@yunbian/contracts';
import { nodeMemory } from './node-agent';

const instance = (id: string, memoryMb: number | undefined, isolation?: 'shared' | 'process'): InstanceReport => ({
  id,
  service: 's',
  version: '1.0.0',
  status: 'ready',
  subject: `yb.inst.${id}`,
  inFlight: 0,
  queued: 0,
  restarts: 0,
  startedAt: new Date(0).toISOString(),
  memoryMb,
  isolation,
});

describe('nodeMemory', () => {
  it("lists the agent's and every instance's memory and counts a shared worker once", () => {
    const figures = nodeMemory(
      60.4,
      [
        instance('own', 140, 'process'),
        instance('s1', 31, 'shared'),
        instance('s2', 31, 'shared'),
        instance('s3', 31, 'shared'),
      ],
      93,
    );
    expect(figures).toEqual({
      agentMemoryMb: 60,
      instanceMemoryMb: { own: 140, s1: 31, s2: 31, s3: 31 },
      sharedWorkerMemoryMb: 93,
      // 60.4 + 140 + 93, not + 3 × 31 on top of the shared worker
      memoryUsedMb: 293,
    });
  });

  it('leaves out instances whose memory is unknown (no /proc, or not started yet)', () => {
    expect(nodeMemory(50, [instance('a', undefined)])).toEqual({
      agentMemoryMb: 50,
      instanceMemoryMb: {},
      memoryUsedMb: 50,
    });
  });
});
