import { execFileSync } from 'node:child_process';

/** Clock ticks per second for /proc CPU figures (usually 100). */
function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

export const os = { clockTicks: clockTicks() };
