import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { InstanceResources, LimitsEnforcement, NodeLimits } from '@yunbian/contracts';

/**
 * Resource limits on worker processes with Linux cgroups v1 (the `cpu` and `memory`
 * controllers), the way a kubelet confines pods.
 *
 * Groups live beneath the agent's OWN group of each controller, as /proc/self/cgroup names it,
 * never in the hierarchy's root: `<mount>/<own path>/yunbian/<nodeId>/` carries the node's
 * `limits` and `.../<nodeId>/<instanceId>/` an instance's `resources`. The instance groups are
 * children of the node group, so every instance together stays within the node's limits.
 * Only workers are placed in groups, not the agent itself.
 *
 * Where groups cannot be made (not Linux, not root, no cgroup v1 mount, a controller missing,
 * a read-only hierarchy) the agent runs its workers unconfined and says so: limits are then
 * `advisory` — admission still reserves them, nothing enforces them.
 */
export interface ResourceEnforcer {
  readonly enforcement: LimitsEnforcement;
  /** Creates the node group with the node's limits, after removing one left by a killed predecessor. */
  start(): Promise<void>;
  /**
   * Puts a freshly forked worker in its instance's group (made on first use, with the
   * instance's resources). Call right after fork, before the worker loads anything.
   */
  attach(instanceId: string, pid: number, resources: InstanceResources | undefined): void;
  /** Why a worker that just exited was killed, when its group's memory limit did it. */
  memoryKill(instanceId: string, signal: NodeJS.Signals | null): string | undefined;
  /** Removes an instance's group once its worker is gone. */
  release(instanceId: string): void;
  /** Removes every group of this node (the workers must have exited). */
  stop(): void;
}

export type Controller = 'cpu' | 'memory';
export const CONTROLLERS: readonly Controller[] = ['cpu', 'memory'];

/** The CFS period the quota is a share of (the kernel's default, 100 ms). */
export const CFS_PERIOD_US = 100_000;
/** The smallest quota the kernel takes (1 ms a period). */
export const CFS_MIN_QUOTA_US = 1_000;

// ---- pure parts -----------------------------------------------------------

/** `/proc/self/cgroup` → path of the process's group per v1 controller (`cpu` → `/`, `memory` → `/a/b`). */
export function parseProcCgroup(text: string): Map<string, string> {
  const groups = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!match || match[1] === '') continue; // `0::/path` is cgroup v2's unified hierarchy
    for (const controller of match[1].split(',')) groups.set(controller, match[2]);
  }
  return groups;
}

export interface CgroupMount {
  /** Where the hierarchy is mounted (`/sys/fs/cgroup/memory`). */
  mountPoint: string;
  /** Which group of the hierarchy is at the mount point (`/` unless the mount is a subtree). */
  root: string;
}

/** `/proc/self/mountinfo` → the cgroup v1 mount of each controller. */
export function parseCgroupMounts(text: string): Map<string, CgroupMount> {
  const mounts = new Map<string, CgroupMount>();
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const fields = left.split(' ');
    const [fsType, , superOptions = ''] = right.split(' ');
    if (fsType !== 'cgroup' || fields.length < 5) continue;
    const mount: CgroupMount = { root: unescapeMount(fields[3]), mountPoint: unescapeMount(fields[4]) };
    for (const option of superOptions.split(',')) if (!mounts.has(option)) mounts.set(option, mount);
  }
  return mounts;
}

const unescapeMount = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/**
 * The directory of the process's own group of `controller`, or why there is none: the group's
 * path is relative to the hierarchy's root, and the mount may show only a subtree of it.
 */
export function ownGroupDir(
  controller: Controller,
  groups: ReadonlyMap<string, string>,
  mounts: ReadonlyMap<string, CgroupMount>,
): { dir: string } | { reason: string } {
  const mount = mounts.get(controller);
  if (!mount) return { reason: `no cgroup v1 hierarchy with the ${controller} controller is mounted` };
  const group = groups.get(controller);
  if (group === undefined) return { reason: `/proc/self/cgroup names no ${controller} group` };
  const root = mount.root === '/' ? '' : mount.root;
  if (root && group !== root && !group.startsWith(`${root}/`)) {
    return { reason: `the ${controller} group ${group} is outside the mounted subtree ${mount.root}` };
  }
  return { dir: path.join(mount.mountPoint, group.slice(root.length)) };
}

/** CFS quota for `cores` of CPU time: `quotaUs` of every `periodUs` (-1: unlimited). */
export function cpuQuota(cores: number | undefined, periodUs = CFS_PERIOD_US): { periodUs: number; quotaUs: number } {
  if (cores === undefined) return { periodUs, quotaUs: -1 };
  if (!(cores > 0) || !Number.isFinite(cores))
    throw new Error(`a CPU limit must be a number of cores above 0 (got ${cores})`);
  return { periodUs, quotaUs: Math.max(CFS_MIN_QUOTA_US, Math.round(cores * periodUs)) };
}

/** `memory.limit_in_bytes` for `memoryMb` (-1: unlimited). */
export const memoryLimitBytes = (memoryMb: number | undefined): number =>
  memoryMb === undefined ? -1 : Math.round(memoryMb * 1024 * 1024);

/** The `oom_kill` count of a `memory.oom_control` text (absent on kernels before 4.13). */
export function oomKills(oomControl: string): number | undefined {
  const match = /^oom_kill (\d+)$/m.exec(oomControl);
  return match ? Number(match[1]) : undefined;
}

/** The whole picture from the per-controller outcome. */
export function summarise(outcome: Record<Controller, string | undefined>): LimitsEnforcement {
  const cpu = outcome.cpu === undefined;
  const memory = outcome.memory === undefined;
  const reasons = CONTROLLERS.filter((c) => outcome[c] !== undefined).map((c) => `${c}: ${outcome[c]}`);
  return {
    mode: cpu || memory ? 'enforced' : 'advisory',
    reason: reasons.length ? reasons.join('; ') : undefined,
    cpu,
    memory,
  };
}

// ---- the implementations --------------------------------------------------

/** Limits no one enforces: the agent only reports them (and admission still reserves them). */
export class AdvisoryLimits implements ResourceEnforcer {
  readonly enforcement: LimitsEnforcement;

  constructor(reason: string) {
    this.enforcement = { mode: 'advisory', reason, cpu: false, memory: false };
  }

  start(): Promise<void> {
    return Promise.resolve();
  }
  attach(): void {}
  memoryKill(): undefined {
    return undefined;
  }
  release(): void {}
  stop(): void {}
}

/** Memory-group counters of an instance and its node, read when its worker was attached. */
interface MemoryCounters {
  /** `oom_kill` of memory.oom_control: v1 counts a kill in the victim's own group. */
  instanceOom: number;
  nodeOom: number;
  /** `memory.failcnt`: counted in the group whose limit was hit. */
  instanceFail: number;
  nodeFail: number;
}

interface InstanceGroup {
  resources: InstanceResources | undefined;
  baseline?: MemoryCounters;
}

/** cgroup v1 groups beneath the agent's own, one directory per enforced controller. */
export class CgroupV1Limits implements ResourceEnforcer {
  readonly enforcement: LimitsEnforcement;
  private readonly instances = new Map<string, InstanceGroup>();

  /**
   * @param ownDirs the agent's own group directory per controller it can write.
   * @param warn told about a group that could not be written or removed (the worker runs on).
   */
  constructor(
    private readonly nodeId: string,
    private readonly limits: NodeLimits | undefined,
    private readonly ownDirs: Partial<Record<Controller, string>>,
    outcome: Record<Controller, string | undefined>,
    private readonly warn: (message: string, fields: Record<string, unknown>) => void = () => undefined,
  ) {
    this.enforcement = summarise(outcome);
  }

  /** The node's group directory of `controller` (undefined when that controller is not enforced). */
  nodeDir(controller: Controller): string | undefined {
    const own = this.ownDirs[controller];
    return own === undefined ? undefined : path.join(own, 'yunbian', this.nodeId);
  }

  instanceDir(controller: Controller, instanceId: string): string | undefined {
    const node = this.nodeDir(controller);
    return node === undefined ? undefined : path.join(node, instanceId);
  }

  async start(): Promise<void> {
    for (const controller of CONTROLLERS) {
      const dir = this.nodeDir(controller);
      if (dir === undefined) continue;
      if (existsSync(dir)) await removeStale(dir, (m, f) => this.warn(m, { ...f, controller }));
      makeGroup(dir);
      this.applyLimits(controller, dir, this.limits);
    }
  }

  private applyLimits(controller: Controller, dir: string, limits: InstanceResources | undefined): void {
    if (controller === 'cpu') {
      const { periodUs, quotaUs } = cpuQuota(limits?.cpu);
      writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(periodUs));
      writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
    } else {
      writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(memoryLimitBytes(limits?.memoryMb)));
    }
  }

  attach(instanceId: string, pid: number, resources: InstanceResources | undefined): void {
    let group = this.instances.get(instanceId);
    if (!group) this.instances.set(instanceId, (group = { resources }));
    for (const controller of CONTROLLERS) {
      const dir = this.instanceDir(controller, instanceId);
      if (dir === undefined) continue;
      try {
        if (!existsSync(dir)) {
          mkdirSync(dir);
          this.applyLimits(controller, dir, resources);
        }
        writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
      } catch (err) {
        this.warn('worker could not be put in its cgroup; it runs unconfined by this controller', {
          controller,
          instance_id: instanceId,
          pid,
          error: (err as Error).message,
        });
      }
    }
    group.baseline = this.memoryCounters(instanceId);
  }

  private memoryCounters(instanceId: string): MemoryCounters | undefined {
    const instanceDir = this.instanceDir('memory', instanceId);
    const nodeDir = this.nodeDir('memory');
    if (instanceDir === undefined || nodeDir === undefined) return undefined;
    const read = (dir: string, file: string, parse: (text: string) => number | undefined) => {
      try {
        return parse(readFileSync(path.join(dir, file), 'utf8'));
      } catch {
        return undefined;
      }
    };
    const instanceOom = read(instanceDir, 'memory.oom_control', oomKills);
    const nodeOom = read(nodeDir, 'memory.oom_control', oomKills);
    const instanceFail = read(instanceDir, 'memory.failcnt', Number);
    const nodeFail = read(nodeDir, 'memory.failcnt', Number);
    if (instanceOom === undefined || nodeOom === undefined || instanceFail === undefined || nodeFail === undefined) {
      return undefined;
    }
    return { instanceOom, nodeOom, instanceFail, nodeFail };
  }

  memoryKill(instanceId: string, signal: NodeJS.Signals | null): string | undefined {
    const group = this.instances.get(instanceId);
    if (!group || signal !== 'SIGKILL') return undefined;
    const own = group.resources?.memoryMb;
    const node = this.limits?.memoryMb;
    const ownMessage = `worker exceeded its memory limit of ${own} MB (killed by the kernel in its cgroup); raise resources.memoryMb or make the service use less`;
    const nodeMessage = `worker was killed when the instances of node ${this.nodeId} exceeded the node's memory limit of ${node} MB; raise limits.memoryMb or run fewer instances there`;
    const base = group.baseline;
    const now = this.memoryCounters(instanceId);
    if (base && now) {
      if (now.instanceOom <= base.instanceOom && now.nodeOom <= base.nodeOom) return undefined;
      // Killed by the OOM killer of a group: the group whose limit was hit counted the failure.
      if (own !== undefined && now.instanceFail > base.instanceFail) return ownMessage;
      if (node !== undefined && now.nodeFail > base.nodeFail) return nodeMessage;
      return own !== undefined ? ownMessage : node !== undefined ? nodeMessage : undefined;
    }
    // Kernels without an oom_kill count: a SIGKILL with the group's peak at its limit.
    const instanceDir = this.instanceDir('memory', instanceId);
    if (own !== undefined && instanceDir !== undefined && this.peakAtLimit(instanceDir, own)) {
      return `worker exceeded its memory limit of ${own} MB (killed at its cgroup's limit); raise resources.memoryMb or make the service use less`;
    }
    return undefined;
  }

  private peakAtLimit(dir: string, memoryMb: number): boolean {
    try {
      const peak = Number(readFileSync(path.join(dir, 'memory.max_usage_in_bytes'), 'utf8'));
      return peak >= memoryLimitBytes(memoryMb) - 4 * 1024 * 1024;
    } catch {
      return false;
    }
  }

  release(instanceId: string): void {
    this.instances.delete(instanceId);
    for (const controller of CONTROLLERS) {
      const dir = this.instanceDir(controller, instanceId);
      if (dir !== undefined) this.removeDir(dir);
    }
  }

  stop(): void {
    for (const instanceId of [...this.instances.keys()]) this.release(instanceId);
    for (const controller of CONTROLLERS) {
      const dir = this.nodeDir(controller);
      if (dir === undefined) continue;
      for (const child of childGroups(dir)) {
        if (procsOf(path.join(dir, child)).length === 0) this.removeDir(path.join(dir, child));
      }
      // Busy when another live agent with this node id has groups in it: it removes them.
      if (childGroups(dir).length === 0) this.removeDir(dir);
      // The shared `yunbian/` parent goes when this was the last node in it (busy: others remain).
      try {
        rmdirSync(path.dirname(dir));
      } catch {
        // Another agent's node group is still there.
      }
    }
  }

  private removeDir(dir: string): void {
    try {
      if (existsSync(dir)) rmdirSync(dir);
    } catch (err) {
      this.warn('cgroup could not be removed', { dir, error: (err as Error).message });
    }
  }
}

/**
 * Makes `<own>/yunbian/<node>` one level at a time (the own group must exist). Not
 * `mkdir -p`: Node's recursive mkdir spins forever where a pseudo-filesystem such as /proc
 * answers ENOENT for a directory whose parent exists.
 */
function makeGroup(nodeDir: string): void {
  for (const dir of [path.dirname(nodeDir), nodeDir]) {
    try {
      mkdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Sub-groups of a group directory (cgroupfs lists control files as files, groups as directories). */
function childGroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function procsOf(dir: string): number[] {
  try {
    return readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Where a worker's agent runs from: a worker whose parent is not this is an orphan. */
const AGENT_ENTRY = `${path.sep}apps${path.sep}agent${path.sep}src${path.sep}main`;

/**
 * Whether a process found in a node group is an orphan of a dead agent: its parent is init
 * (or a subreaper), not an agent. Workers of a live agent with the same node id on this machine
 * (another cluster, a test) keep their parent, and are left alone.
 */
export function isOrphanWorker(procStat: string, parentCmdline: string | undefined): boolean {
  const ppid = Number(procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')[1]);
  if (!(ppid > 1) || parentCmdline === undefined) return true;
  return !parentCmdline.split('\0').some((arg) => arg.includes(AGENT_ENTRY));
}

function orphanStatus(pid: number): boolean | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    let parent: string | undefined;
    try {
      parent = readFileSync(`/proc/${ppid}/cmdline`, 'utf8');
    } catch {
      parent = undefined;
    }
    return isOrphanWorker(stat, parent);
  } catch {
    return undefined; // gone
  }
}

/**
 * Removes the node group a SIGKILLed predecessor left: its orphan workers (they would serve
 * instances the catalogue no longer has) are killed, then the emptied groups removed. A group
 * with a live agent's workers in it is left as it is.
 */
export async function removeStale(
  dir: string,
  warn: (message: string, fields: Record<string, unknown>) => void,
): Promise<void> {
  const groups = [...childGroups(dir).map((c) => path.join(dir, c)), dir];
  for (const group of groups) {
    const pids = procsOf(group);
    const orphans = pids.filter((pid) => orphanStatus(pid) === true);
    for (const pid of orphans) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    const deadline = Date.now() + 5_000;
    const alive = () => procsOf(group).filter((pid) => orphans.includes(pid)).length > 0;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (orphans.length)
      warn('killed workers left in a stale cgroup by a previous agent', { dir: group, pids: orphans });
    if (group === dir) continue; // the node group itself is reused
    if (procsOf(group).length > 0) {
      warn('a cgroup of this node id holds workers of another live agent; left alone', { dir: group });
      continue;
    }
    try {
      rmdirSync(group);
    } catch (err) {
      warn('stale cgroup could not be removed', { dir: group, error: (err as Error).message });
    }
  }
}

export interface DetectOptions {
  nodeId: string;
  limits?: NodeLimits;
  /** `off` turns enforcement off (limits stay advisory). */
  mode?: 'auto' | 'off';
  warn?: (message: string, fields: Record<string, unknown>) => void;
  /** For tests: where /proc is. */
  procDir?: string;
  uid?: number;
  platform?: NodeJS.Platform;
}

/**
 * What this machine allows: a v1 enforcer for the controllers whose own group the agent can
 * make children in (tried by creating `yunbian/<nodeId>`), advisory with the reason otherwise.
 */
export function detectLimits(options: DetectOptions): ResourceEnforcer {
  const platform = options.platform ?? process.platform;
  if (options.mode === 'off') return new AdvisoryLimits('turned off (YUNBIAN_CGROUPS=off)');
  if (platform !== 'linux') return new AdvisoryLimits(`cgroups need Linux (this is ${platform})`);
  const proc = options.procDir ?? '/proc';
  let groups: Map<string, string>;
  let mounts: Map<string, CgroupMount>;
  try {
    groups = parseProcCgroup(readFileSync(path.join(proc, 'self/cgroup'), 'utf8'));
    mounts = parseCgroupMounts(readFileSync(path.join(proc, 'self/mountinfo'), 'utf8'));
  } catch (err) {
    return new AdvisoryLimits(`no cgroup information in ${proc} (${(err as Error).message})`);
  }
  if (![...mounts.keys()].some((k) => CONTROLLERS.includes(k as Controller))) {
    return new AdvisoryLimits('no cgroup v1 fs: neither the cpu nor the memory controller is mounted as cgroup v1');
  }
  const uid = options.uid ?? process.getuid?.() ?? -1;
  const outcome: Record<Controller, string | undefined> = { cpu: undefined, memory: undefined };
  const dirs: Partial<Record<Controller, string>> = {};
  for (const controller of CONTROLLERS) {
    const own = ownGroupDir(controller, groups, mounts);
    if ('reason' in own) {
      outcome[controller] = `controller missing: ${own.reason}`;
      continue;
    }
    try {
      makeGroup(path.join(own.dir, 'yunbian', options.nodeId));
      dirs[controller] = own.dir;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const who = uid === 0 ? '' : `not root (uid ${uid}); `;
      outcome[controller] = `${who}${own.dir} is not writable (${code ?? (err as Error).message})`;
    }
  }
  const enforced = CONTROLLERS.filter((c) => dirs[c] !== undefined);
  if (enforced.length === 0) {
    const all = summarise(outcome);
    return new AdvisoryLimits(all.reason ?? 'no controller is writable');
  }
  return new CgroupV1Limits(options.nodeId, options.limits, dirs, outcome, options.warn);
}
