import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CgroupV1Limits,
  cpuQuota,
  detectLimits,
  memoryLimitBytes,
  isOrphanWorker,
  oomKills,
  ownGroupDir,
  parseCgroupMounts,
  parseProcCgroup,
  summarise,
} from './cgroups';

const PROC_CGROUP = `12:pids:/
9:name=systemd:/
4:memory:/process_api/57a8
2:cpu,cpuacct:/
0::/
`;
const MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

describe('cgroup path resolution', () => {
  it('reads the group of every v1 controller, ignoring the v2 line', () => {
    const groups = parseProcCgroup(PROC_CGROUP);
    expect(groups.get('memory')).toBe('/process_api/57a8');
    expect(groups.get('cpu')).toBe('/');
    expect(groups.get('cpuacct')).toBe('/');
    expect(groups.get('name=systemd')).toBe('/');
    expect(groups.has('')).toBe(false);
  });

  it('finds each controller mount, with the subtree it shows', () => {
    const mounts = parseCgroupMounts(MOUNTINFO);
    expect(mounts.get('cpu')).toEqual({ mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/' });
    expect(mounts.get('memory')).toEqual({ mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc' });
    expect(mounts.has('unified')).toBe(false);
  });

  it('joins the mount with the own group, beneath the mounted subtree', () => {
    const groups = parseProcCgroup('4:memory:/docker/abc/agent\n2:cpu,cpuacct:/process_api/x\n');
    const mounts = parseCgroupMounts(MOUNTINFO);
    expect(ownGroupDir('memory', groups, mounts)).toEqual({ dir: '/sys/fs/cgroup/memory/agent' });
    expect(ownGroupDir('cpu', groups, mounts)).toEqual({ dir: '/sys/fs/cgroup/cpu,cpuacct/process_api/x' });
    expect(ownGroupDir('memory', parseProcCgroup('4:memory:/elsewhere\n'), mounts)).toEqual({
      reason: 'the memory group /elsewhere is outside the mounted subtree /docker/abc',
    });
    expect(ownGroupDir('cpu', groups, new Map())).toEqual({
      reason: 'no cgroup v1 hierarchy with the cpu controller is mounted',
    });
  });

  it('lays groups out as <own>/yunbian/<node>/<instance>', () => {
    const limits = new CgroupV1Limits('dev-1', undefined, { cpu: '/cg/cpu/own' }, { cpu: undefined, memory: 'x' });
    expect(limits.nodeDir('cpu')).toBe('/cg/cpu/own/yunbian/dev-1');
    expect(limits.instanceDir('cpu', 'ocr-1')).toBe('/cg/cpu/own/yunbian/dev-1/ocr-1');
    expect(limits.nodeDir('memory')).toBeUndefined();
    expect(limits.enforcement).toEqual({ mode: 'enforced', reason: 'memory: x', cpu: true, memory: false });
  });
});

describe('limit arithmetic', () => {
  it('turns cores into a CFS quota of the 100 ms period', () => {
    expect(cpuQuota(0.25)).toEqual({ periodUs: 100_000, quotaUs: 25_000 });
    expect(cpuQuota(1.5)).toEqual({ periodUs: 100_000, quotaUs: 150_000 });
    expect(cpuQuota(0.001)).toEqual({ periodUs: 100_000, quotaUs: 1_000 }); // the kernel's minimum
    expect(cpuQuota(undefined)).toEqual({ periodUs: 100_000, quotaUs: -1 });
    expect(() => cpuQuota(0)).toThrow('a CPU limit must be a number of cores above 0 (got 0)');
  });

  it('turns MiB into bytes, and reads OOM kills', () => {
    expect(memoryLimitBytes(256)).toBe(268_435_456);
    expect(memoryLimitBytes(undefined)).toBe(-1);
    expect(oomKills('oom_kill_disable 0\nunder_oom 0\noom_kill 3\n')).toBe(3);
    expect(oomKills('oom_kill_disable 0\nunder_oom 0\n')).toBeUndefined();
  });

  it('summarises which controllers are enforced', () => {
    expect(summarise({ cpu: undefined, memory: undefined })).toEqual({
      mode: 'enforced',
      reason: undefined,
      cpu: true,
      memory: true,
    });
    expect(summarise({ cpu: 'not writable', memory: 'controller missing' })).toEqual({
      mode: 'advisory',
      reason: 'cpu: not writable; memory: controller missing',
      cpu: false,
      memory: false,
    });
  });
});

describe('stale groups', () => {
  const stat = (ppid: number) => `4770 (node) S ${ppid} 4770 4770 0 -1 4194560 1 0 0 0 5 3`;
  it('takes a worker whose parent is init, gone, or not an agent for an orphan', () => {
    expect(isOrphanWorker(stat(1), '/sbin/init\0')).toBe(true);
    expect(isOrphanWorker(stat(812), undefined)).toBe(true);
    expect(isOrphanWorker(stat(812), 'node\0/usr/lib/node_modules/.bin/jest\0')).toBe(true);
    // A live agent with the same node id (another cluster on this machine) keeps its workers.
    expect(isOrphanWorker(stat(812), 'node\0/srv/yunbian/dist/apps/agent/src/main.js\0--node\0a.yaml\0')).toBe(false);
  });
});

describe('detecting what the machine allows', () => {
  const fakeProc = (cgroup: string, mountinfo: string) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yb-proc-'));
    mkdirSync(path.join(dir, 'self'));
    writeFileSync(path.join(dir, 'self/cgroup'), cgroup);
    writeFileSync(path.join(dir, 'self/mountinfo'), mountinfo);
    return dir;
  };

  it('is advisory, saying why, when it cannot enforce', () => {
    expect(detectLimits({ nodeId: 'n', mode: 'off' }).enforcement.reason).toBe('turned off (YUNBIAN_CGROUPS=off)');
    expect(detectLimits({ nodeId: 'n', platform: 'darwin' }).enforcement).toEqual({
      mode: 'advisory',
      reason: 'cgroups need Linux (this is darwin)',
      cpu: false,
      memory: false,
    });
    const v2only = fakeProc('0::/user.slice\n', '41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n');
    expect(detectLimits({ nodeId: 'n', procDir: v2only, platform: 'linux' }).enforcement.reason).toMatch(
      /^no cgroup v1 fs/,
    );
    expect(detectLimits({ nodeId: 'n', procDir: '/nonexistent', platform: 'linux' }).enforcement.reason).toMatch(
      /^no cgroup information in \/nonexistent/,
    );
  });

  it('names a hierarchy it cannot write and who it runs as', () => {
    // /proc/1/root-like paths are not writable even for root: a read-only location stands in.
    const proc = fakeProc(
      '4:memory:/x\n2:cpu:/y\n',
      '32 31 0:29 / /proc/sys rw - cgroup cgroup rw,cpu\n35 31 0:32 / /proc/sys/kernel rw - cgroup cgroup rw,memory\n',
    );
    const e = detectLimits({ nodeId: 'n', procDir: proc, platform: 'linux', uid: 1000 }).enforcement;
    expect(e.mode).toBe('advisory');
    expect(e.reason).toContain('cpu: not root (uid 1000); /proc/sys/y is not writable');
    expect(e.reason).toContain('memory: not root (uid 1000); /proc/sys/kernel/x is not writable');
  });
});

// ---- real cgroups ---------------------------------------------------------

const probe = detectLimits({ nodeId: `probe-${process.pid}` });
probe.stop();
const real = probe.enforcement.cpu && probe.enforcement.memory;
const whyNot = probe.enforcement.reason ?? 'unknown';
if (!real) {
  // Shown in the run's output: the real enforcement test is skipped here, not passed.
  process.stderr.write(`cgroups.spec: SKIPPING the real cgroup v1 test: ${whyNot}\n`);
}
const realIt = real ? it : it.skip;
// Where enforcement must be tested (CI runs as root on a machine with cgroup v1), a skip would
// hide a broken setup: there it fails instead, as the testbed tests do.
if (!real && (process.env.YUNBIAN_REQUIRE_CGROUPS === '1' || process.env.CI === 'true')) {
  it('has writable cgroup v1 cpu and memory hierarchies (required in CI and with YUNBIAN_REQUIRE_CGROUPS=1)', () => {
    throw new Error(`cgroup v1 enforcement is not available here: ${whyNot}`);
  });
}

/** CPU seconds a process has used (utime + stime from /proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

function nodeChild(code: string): ChildProcess {
  return spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
}
const exited = (child: ChildProcess) =>
  new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));

describe(`real cgroup v1 enforcement (${real ? 'running as root with writable cgroups' : `skipped: ${whyNot}`})`, () => {
  const nodeId = `cgtest-${process.pid}`;
  const children: ChildProcess[] = [];
  afterAll(async () => {
    // A failed assertion must not leave groups behind: kill what runs, then remove them.
    await Promise.all(
      children.filter((c) => c.exitCode === null && c.signalCode === null).map((c) => (c.kill('SIGKILL'), exited(c))),
    );
    if (real) for (const id of [nodeId, `${nodeId}-n`, `${nodeId}-s`]) detectLimits({ nodeId: id }).stop();
  });

  realIt(
    'caps a worker at its CPU share and kills it at its memory limit, then removes its groups',
    async () => {
      const limits = detectLimits({ nodeId, limits: { cpu: 1, memoryMb: 512 } }) as CgroupV1Limits;
      await limits.start();
      const cpuNode = limits.nodeDir('cpu')!;
      const memoryNode = limits.nodeDir('memory')!;
      expect(readFileSync(path.join(cpuNode, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('100000');
      expect(readFileSync(path.join(memoryNode, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(512 << 20));

      // A busy loop in a 0.25-core group: the kernel lets it use at most a quarter of a core.
      const spin = nodeChild('for (;;) {}');
      children.push(spin);
      limits.attach('spin', spin.pid!, { cpu: 0.25 });
      const spinDir = limits.instanceDir('cpu', 'spin')!;
      expect(readFileSync(path.join(spinDir, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('25000');
      expect(readFileSync(path.join(spinDir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(spin.pid));
      expect(readFileSync(`/proc/${spin.pid}/cgroup`, 'utf8')).toContain(`/yunbian/${nodeId}/spin`);
      const before = cpuSeconds(spin.pid!);
      const started = Date.now();
      await new Promise((r) => setTimeout(r, 2_000));
      const cores = (cpuSeconds(spin.pid!) - before) / ((Date.now() - started) / 1000);
      // A ceiling, not a speed: a loaded machine only lowers it (0.25 plus tick granularity).
      expect(cores).toBeLessThan(0.32);
      expect(
        Number(/nr_throttled (\d+)/.exec(readFileSync(path.join(spinDir, 'cpu.stat'), 'utf8'))?.[1]),
      ).toBeGreaterThan(0);
      spin.kill('SIGKILL');
      await exited(spin);
      expect(limits.memoryKill('spin', 'SIGKILL')).toBeUndefined(); // killed, but not for memory
      limits.release('spin');
      expect(existsSync(spinDir)).toBe(false);

      // A worker that grows past its 64 MB cap is killed by the kernel, and the agent can tell.
      const hog = nodeChild('setTimeout(() => { const a = []; for (;;) a.push(Buffer.alloc(8 << 20, 1)); }, 300);');
      children.push(hog);
      limits.attach('hog', hog.pid!, { memoryMb: 64 });
      expect(await exited(hog)).toBe('SIGKILL');
      expect(limits.memoryKill('hog', 'SIGKILL')).toMatch(/^worker exceeded its memory limit of 64 MB/);

      limits.stop();
      expect(existsSync(limits.instanceDir('memory', 'hog')!)).toBe(false);
      expect(existsSync(cpuNode)).toBe(false);
      expect(existsSync(memoryNode)).toBe(false);
    },
    30_000,
  );

  realIt(
    "tells a kill at the node's memory limit from one at the instance's",
    async () => {
      const limits = detectLimits({ nodeId: `${nodeId}-n`, limits: { memoryMb: 96 } }) as CgroupV1Limits;
      await limits.start();
      const hog = nodeChild('setTimeout(() => { const a = []; for (;;) a.push(Buffer.alloc(8 << 20, 1)); }, 300);');
      children.push(hog);
      limits.attach('greedy', hog.pid!, undefined); // no own cap: only the node's 96 MB
      expect(await exited(hog)).toBe('SIGKILL');
      expect(limits.memoryKill('greedy', 'SIGKILL')).toMatch(
        /^worker was killed when the instances of node cgtest-\d+-n exceeded the node's memory limit of 96 MB/,
      );
      limits.stop();
    },
    30_000,
  );

  realIt(
    "removes the groups of a killed predecessor with the node's id, and its workers",
    async () => {
      const first = detectLimits({ nodeId: `${nodeId}-s` }) as CgroupV1Limits;
      await first.start();
      const orphan = nodeChild('setInterval(() => {}, 1000);');
      children.push(orphan);
      first.attach('old', orphan.pid!, { cpu: 0.5 });
      const oldDir = first.instanceDir('cpu', 'old')!;
      expect(existsSync(oldDir)).toBe(true);
      // The agent died without stop(): its successor starts.
      const second = detectLimits({ nodeId: `${nodeId}-s` }) as CgroupV1Limits;
      const gone = exited(orphan);
      await second.start();
      expect(await gone).toBe('SIGKILL');
      expect(existsSync(oldDir)).toBe(false);
      expect(existsSync(second.nodeDir('cpu')!)).toBe(true);
      second.stop();
      expect(existsSync(second.nodeDir('cpu')!)).toBe(false);
    },
    30_000,
  );
});
