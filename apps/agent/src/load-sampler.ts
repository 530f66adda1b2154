import os from 'node:os';
import type { NodeLoad } from '@yunbian/contracts';
import { round } from '@yunbian/common';

/** CPU busy % of this machine since the previous sample, and memory figures. */
export class LoadSampler {
  private previous = snapshot();

  sample(memoryTotalMb: number, memoryUsedMb: number): NodeLoad {
    const current = snapshot();
    const busy = current.busy - this.previous.busy;
    const total = current.total - this.previous.total;
    this.previous = current;
    return {
      cpuPercent: total > 0 ? round((100 * busy) / total, 1) : 0,
      memoryUsedMb: Math.round(memoryUsedMb),
      memoryTotalMb,
      loadAverage1m: round(os.loadavg()[0], 2),
    };
  }
}

function snapshot() {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const t = cpu.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}
