/**
 * The commands that build and remove the testbed's network: `ip netns`, `ip link`,
 * `tc` and `iptables`, each run inside a namespace the testbed made (`ip -n <ns>` or
 * `ip netns exec <ns>`), never against the host's own interfaces.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { LINK_CHAIN, linkRules, NAMESPACE_PREFIX, tbfArgs, type LinkPlan } from './plan';

export class CommandError extends Error {
  constructor(
    readonly command: string[],
    readonly stderr: string,
    readonly code: number | string | null,
  ) {
    super(`\`${command.join(' ')}\` failed (${code}): ${stderr.trim() || 'no message'}`);
    this.name = 'CommandError';
  }
}

export function run(command: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command[0],
      command.slice(1),
      { timeout: options.timeoutMs ?? 15_000, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new CommandError(command, stderr || err.message, (err as NodeJS.ErrnoException).code ?? null));
        else resolve(stdout);
      },
    );
  });
}

async function quiet(command: string[]): Promise<void> {
  await run(command).catch(() => undefined);
}

/**
 * Why the testbed cannot run here, or undefined when it can: it needs root (namespaces,
 * tc, iptables) and `ip netns`.
 */
export async function preflight(): Promise<string | undefined> {
  const plain = 'Without them, run the plain single-machine stack instead: `npm start`.';
  if (process.platform !== 'linux') return `the testbed needs Linux network namespaces. ${plain}`;
  if (process.getuid?.() !== 0) {
    return `the testbed must run as root (it creates network namespaces, veth pairs, tc qdiscs and iptables rules); try \`sudo -E npm run testbed -- <topology.yaml>\`. ${plain}`;
  }
  try {
    await run(['ip', 'netns', 'list']);
  } catch (err) {
    return `\`ip netns\` is not available (${(err as Error).message}); install iproute2. ${plain}`;
  }
  const packages: Record<string, string> = { tc: 'iproute2', iptables: 'iptables', nsenter: 'util-linux' };
  for (const tool of Object.keys(packages)) {
    try {
      await run([tool, tool === 'nsenter' ? '--version' : '-V']);
    } catch {
      return `\`${tool}\` is not available; install ${packages[tool]}. ${plain}`;
    }
  }
  return undefined;
}

export async function listNamespaces(): Promise<string[]> {
  const out = await run(['ip', 'netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n && n.startsWith(NAMESPACE_PREFIX));
}

export async function namespacePids(ns: string): Promise<number[]> {
  const out = await run(['ip', 'netns', 'pids', ns]).catch(() => '');
  return out
    .split(/\s+/)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Kills every process inside `ns` (SIGKILL) and deletes the namespace (its veths, qdiscs and rules go with it). */
export async function removeNamespace(ns: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pids = await namespacePids(ns);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await quiet(['ip', 'netns', 'del', ns]);
}

export async function createNamespace(ns: string): Promise<void> {
  await run(['ip', 'netns', 'add', ns]);
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
}

/** The veth pair of a link, created straight inside its two namespaces, addressed and shaped. */
export async function createLink(link: LinkPlan): Promise<void> {
  await run([
    'ip',
    '-n',
    link.siteNamespace,
    'link',
    'add',
    link.siteDevice,
    'type',
    'veth',
    'peer',
    'name',
    link.uplinkDevice,
    'netns',
    link.uplinkNamespace,
  ]);
  await run(['ip', '-n', link.siteNamespace, 'addr', 'add', `${link.siteAddress}/24`, 'dev', link.siteDevice]);
  await run(['ip', '-n', link.uplinkNamespace, 'addr', 'add', `${link.uplinkAddress}/24`, 'dev', link.uplinkDevice]);
  await run(['ip', '-n', link.siteNamespace, 'link', 'set', link.siteDevice, 'up']);
  await run(['ip', '-n', link.uplinkNamespace, 'link', 'set', link.uplinkDevice, 'up']);
  await run(['ip', 'netns', 'exec', link.siteNamespace, 'iptables', '-N', LINK_CHAIN]);
  await run(['ip', 'netns', 'exec', link.siteNamespace, 'iptables', '-I', 'INPUT', '-j', LINK_CHAIN]);
  await run(['ip', 'netns', 'exec', link.siteNamespace, 'iptables', '-I', 'OUTPUT', '-j', LINK_CHAIN]);
  await shapeLink(link, link.shape.upMbps, link.shape.downMbps);
  await setLinkRules(link, { cut: false, lossPercent: link.shape.lossPercent });
}

/** Up is shaped where packets leave the site, down where they leave the uplink's end. */
export async function shapeLink(link: LinkPlan, upMbps: number, downMbps: number): Promise<void> {
  await run(['ip', 'netns', 'exec', link.siteNamespace, 'tc', ...tbfArgs(link.siteDevice, upMbps)]);
  await run(['ip', 'netns', 'exec', link.uplinkNamespace, 'tc', ...tbfArgs(link.uplinkDevice, downMbps)]);
}

export async function setLinkRules(link: LinkPlan, state: { cut: boolean; lossPercent?: number }): Promise<void> {
  const ipt = ['ip', 'netns', 'exec', link.siteNamespace, 'iptables'];
  // Add the new rules before flushing the old ones would leave a window with both; a cut
  // replaces loss rules, so flush first and add: both are one-line operations.
  await run([...ipt, '-F', LINK_CHAIN]);
  for (const rule of linkRules(link.siteDevice, state)) await run([...ipt, '-A', LINK_CHAIN, ...rule]);
}

/** `tc qdisc show` in a namespace (for teardown checks and the summary). */
export function qdiscs(ns: string): Promise<string> {
  return run(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'show']);
}

// ---- cgroups -------------------------------------------------------------

/**
 * The folders where agents keep their node's cgroups (v1 `cpu` and `memory`):
 * `<controller mount>/<this process's path>/yunbian`. Agents started by the testbed
 * inherit its cgroups, so their groups sit beneath these.
 */
export function yunbianCgroupRoots(): string[] {
  const roots: string[] = [];
  let cgroups: string;
  let mounts: string;
  try {
    cgroups = readFileSync('/proc/self/cgroup', 'utf8');
    mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return roots;
  }
  for (const controller of ['cpu', 'memory']) {
    const own = cgroups
      .split('\n')
      .map((l) => l.split(':'))
      .find((parts) => parts.length >= 3 && parts[1].split(',').includes(controller));
    if (!own) continue;
    const mount = mounts
      .split('\n')
      .map((l) => l.split(' '))
      .find((f) => {
        const dash = f.indexOf('-');
        return dash > 0 && f[dash + 1] === 'cgroup' && (f[dash + 3] ?? '').split(',').includes(controller);
      });
    if (!mount) continue;
    roots.push(path.join(mount[4], own[2], 'yunbian'));
  }
  return roots;
}

/** Removes a cgroup folder and everything beneath it (cgroup folders go with rmdir, deepest first). */
export function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroupTree(path.join(dir, entry.name));
  }
  try {
    rmdirSync(dir);
  } catch {
    // Still has processes (it should not after teardown) or is already gone.
  }
}
