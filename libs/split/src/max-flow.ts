/** A directed edge of a flow network. */
export interface FlowEdge {
  from: number;
  to: number;
  capacity: number;
}

/** Capacities at or above this are infinite (a constraint, never cut). */
export const INFINITE = 1e15;

/**
 * Maximum s-t flow by Dinic's algorithm, and the minimum cut it proves: `sourceSide[v]` is 1
 * for the vertices still reachable from `s` in the residual network. Capacities are floats
 * (milliseconds); residuals below `epsilon` count as saturated.
 */
export function minCut(
  vertices: number,
  edges: readonly FlowEdge[],
  s: number,
  t: number,
  epsilon = 1e-9,
): { value: number; sourceSide: Uint8Array } {
  const head = new Int32Array(vertices).fill(-1);
  const to: number[] = [];
  const cap: number[] = [];
  const next: number[] = [];
  const add = (u: number, v: number, c: number) => {
    to.push(v);
    cap.push(c);
    next.push(head[u]);
    head[u] = to.length - 1;
  };
  for (const e of edges) {
    if (!(e.capacity >= 0)) throw new RangeError(`edge ${e.from}→${e.to} has capacity ${e.capacity}`);
    add(e.from, e.to, Math.min(e.capacity, INFINITE));
    add(e.to, e.from, 0);
  }
  const level = new Int32Array(vertices);
  const iter = new Int32Array(vertices);
  const bfs = (): boolean => {
    level.fill(-1);
    level[s] = 0;
    const queue = [s];
    for (let q = 0; q < queue.length; q++) {
      const u = queue[q];
      for (let e = head[u]; e !== -1; e = next[e]) {
        if (cap[e] > epsilon && level[to[e]] < 0) {
          level[to[e]] = level[u] + 1;
          queue.push(to[e]);
        }
      }
    }
    return level[t] >= 0;
  };
  const dfs = (u: number, pushed: number): number => {
    if (u === t) return pushed;
    for (; iter[u] !== -1; iter[u] = next[iter[u]]) {
      const e = iter[u];
      const v = to[e];
      if (cap[e] > epsilon && level[v] === level[u] + 1) {
        const got = dfs(v, Math.min(pushed, cap[e]));
        if (got > epsilon) {
          cap[e] -= got;
          cap[e ^ 1] += got;
          return got;
        }
      }
    }
    return 0;
  };
  let value = 0;
  while (bfs()) {
    iter.set(head);
    for (let f = dfs(s, Infinity); f > epsilon; f = dfs(s, Infinity)) value += f;
  }
  // Vertices reachable in the residual network: the source side of a minimum cut.
  const sourceSide = new Uint8Array(vertices);
  sourceSide[s] = 1;
  const queue = [s];
  for (let q = 0; q < queue.length; q++) {
    for (let e = head[queue[q]]; e !== -1; e = next[e]) {
      if (cap[e] > epsilon && !sourceSide[to[e]]) {
        sourceSide[to[e]] = 1;
        queue.push(to[e]);
      }
    }
  }
  return { value, sourceSide };
}
