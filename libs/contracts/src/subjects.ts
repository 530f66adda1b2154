/**
 * Every NATS subject Yunbian uses, spelled once. Senders and receivers import these
 * builders; nothing else writes a subject by hand. Events and commands live under
 * separate roots, and node/instance ids are whole tokens, so per-node permissions can be
 * granted with wildcards (for example `yb.cmd.node.edge-a.>`).
 */
export const SUBJECT_ROOT = 'yb';

const TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * What a name or id that becomes a subject token or a KV key may be: letters, digits, `-`
 * and `_`, 1–128 characters. REST path parameters (run, node, instance ids; workflow, model,
 * dataset, alias, deployment names) are checked against it before any handler runs.
 */
export const IDENTIFIER_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const IDENTIFIER_RULE = '1-128 letters, digits, "-" or "_" (no ".", "*", ">", spaces or other characters)';
/**
 * Ids that are KV keys but never subject tokens may also have dots between such parts: the
 * runs a trigger starts are `<workflow>.<trigger>.<sequence>`. Still no `*`, `>`, spaces,
 * empty parts or other characters; at most 256 characters.
 */
export const DOTTED_ID_PATTERN = /^(?=.{1,256}$)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const DOTTED_ID_RULE =
  'letters, digits, "-" or "_", optionally in parts separated by single "." (no "*", ">", spaces or other characters), at most 256 characters';

/** Throws when `value` cannot be used as one subject token (no `.`, `*`, `>` or spaces). */
export function assertToken(value: string, what: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw new Error(
      `${what} "${value}" cannot be used in a NATS subject: use letters, digits, "-" and "_" only (no ".", "*", ">" or spaces)`,
    );
  }
  return value;
}

/** Versions carry dots; in a subject they travel as one token with `_` in place of `.`. */
export function versionToken(version: string): string {
  return assertToken(version.replace(/\./g, '_').replace(/\+/g, '-'), 'service version');
}

export const Subjects = {
  /** Agent → all: the node joined (or re-joined) with its descriptor and service library. */
  nodeAnnounce: (nodeId: string) => `${SUBJECT_ROOT}.evt.node.${assertToken(nodeId, 'node id')}.announce`,
  nodeAnnounceAll: `${SUBJECT_ROOT}.evt.node.*.announce`,
  /** Agent → all: periodic liveness and load. */
  nodeHeartbeat: (nodeId: string) => `${SUBJECT_ROOT}.evt.node.${assertToken(nodeId, 'node id')}.heartbeat`,
  nodeHeartbeatAll: `${SUBJECT_ROOT}.evt.node.*.heartbeat`,
  /** Agent → all: an instance changed status (sent at once, not at the next heartbeat). */
  instanceStatus: (nodeId: string) => `${SUBJECT_ROOT}.evt.node.${assertToken(nodeId, 'node id')}.instance`,
  instanceStatusAll: `${SUBJECT_ROOT}.evt.node.*.instance`,
  /** Agent → all: the agent is shutting down cleanly. */
  nodeLeaving: (nodeId: string) => `${SUBJECT_ROOT}.evt.node.${assertToken(nodeId, 'node id')}.leaving`,
  nodeLeavingAll: `${SUBJECT_ROOT}.evt.node.*.leaving`,
  /**
   * Leading orchestrator replica → the others: a node's liveness as the leader decided it
   * (`LivenessDecision`; liveness is decided once, by the replica holding the `leader` lease).
   */
  catalogLiveness: `${SUBJECT_ROOT}.evt.catalog.liveness`,
  /** Orchestrator → all agents: the orchestrator (re)started; agents announce again. */
  orchestratorOnline: `${SUBJECT_ROOT}.evt.orchestrator.online`,

  /** Orchestrator → agent commands (request/reply). */
  nodeStartInstance: (nodeId: string) => `${SUBJECT_ROOT}.cmd.node.${assertToken(nodeId, 'node id')}.instance.start`,
  nodeStopInstance: (nodeId: string) => `${SUBJECT_ROOT}.cmd.node.${assertToken(nodeId, 'node id')}.instance.stop`,
  nodeReannounce: (nodeId: string) => `${SUBJECT_ROOT}.cmd.node.${assertToken(nodeId, 'node id')}.announce`,
  /**
   * Anyone → agent (request/reply, empty body → `ServiceLibraryReloadReply`): scan the service
   * directories now (new or rebuilt services) and announce the node again if its library changed.
   */
  nodeReloadServices: (nodeId: string) => `${SUBJECT_ROOT}.cmd.node.${assertToken(nodeId, 'node id')}.services.reload`,
  /**
   * Orchestrator → agent (request/reply, `ProfileModelsRequest` → `ProfileModelsReply`): time
   * models from the object store on this node, in a process under the node's CPU limit.
   */
  nodeProfileModels: (nodeId: string) => `${SUBJECT_ROOT}.cmd.node.${assertToken(nodeId, 'node id')}.models.profile`,
  /** Round-trip probes between agents. */
  nodePing: (nodeId: string) => `${SUBJECT_ROOT}.cmd.node.${assertToken(nodeId, 'node id')}.ping`,
  /** Agent → orchestrator round-trip probe; the reply names one peer per site to probe. */
  orchestratorPing: `${SUBJECT_ROOT}.cmd.orchestrator.ping`,
  /** Bandwidth probes: chunks of filler answered with a tiny ack (an upload from the prober). */
  nodeBandwidthProbe: (nodeId: string) => `${SUBJECT_ROOT}.cmd.node.${assertToken(nodeId, 'node id')}.bandwidth`,
  orchestratorBandwidthProbe: `${SUBJECT_ROOT}.cmd.orchestrator.bandwidth`,

  /**
   * Register staged model bytes as the next version (request/reply, `RegisterModelCommand` →
   * `ModelMeta`): the cloud orchestrator's registry answers; services that make models use it.
   */
  modelRegister: `${SUBJECT_ROOT}.cmd.models.register`,
  /** Set an alias over NATS (`SetAliasCommand` → `SetAliasReply`); the cloud registry answers. */
  modelAlias: `${SUBJECT_ROOT}.cmd.models.alias`,
  /** Start instances serving a version beside another's (`ServeModelCommand` → `ServeModelReply`). */
  modelServe: `${SUBJECT_ROOT}.cmd.models.serve`,
  /** Stop instances a serve command started (`RetireInstancesCommand` → `{ retired }`). */
  modelRetire: `${SUBJECT_ROOT}.cmd.models.retire`,

  /** Start a workflow run over NATS (request/reply); the reply is the run, finished or not. */
  workflowRun: `${SUBJECT_ROOT}.cmd.workflows.run`,

  /** Every engine (cloud, site, embedded) → all: it is alive, where it runs, how many runs it holds. */
  engineHeartbeat: (engineId: string) => `${SUBJECT_ROOT}.evt.engine.${assertToken(engineId, 'engine id')}.heartbeat`,
  engineHeartbeatAll: `${SUBJECT_ROOT}.evt.engine.*.heartbeat`,
  /** An engine shutting down cleanly (its durable runs may be taken over at once). */
  engineLeaving: (engineId: string) => `${SUBJECT_ROOT}.evt.engine.${assertToken(engineId, 'engine id')}.leaving`,
  engineLeavingAll: `${SUBJECT_ROOT}.evt.engine.*.leaving`,
  /** Start a run on the site engine of `site` (request/reply, same body and reply as workflowRun). */
  siteWorkflowRun: (site: string) => `${SUBJECT_ROOT}.cmd.site.${assertToken(site, 'site name')}.workflows.run`,
  /**
   * Cancel or retry a run on the engine executing it (request/reply, `RunControlCommand` →
   * `{ record }`): every engine (cloud, site, embedded) answers its own, for its runs.
   */
  engineRunControl: (engineId: string) =>
    `${SUBJECT_ROOT}.cmd.engine.${assertToken(engineId, 'engine id')}.runs.control`,
  /**
   * A site engine's runs as they may leave its site (request/reply, `EngineRunsListRequest` →
   * `EngineRunsListReply`): summaries, newest first, a page at a time. The cloud lists a site's
   * runs through this, never by reading the site's run store.
   */
  engineRunsList: (engineId: string) => `${SUBJECT_ROOT}.cmd.engine.${assertToken(engineId, 'engine id')}.runs.list`,
  /**
   * One run of a site engine as it may leave its site (`EngineRunGetRequest` → `EngineRunGetReply`):
   * every value above the `public` tier replaced by a `SiteRef`.
   */
  engineRunsGet: (engineId: string) => `${SUBJECT_ROOT}.cmd.engine.${assertToken(engineId, 'engine id')}.runs.get`,
  /**
   * A site engine's run facts (`SiteRunFact`), appended to the stream `SITE_FACTS_STREAM` in
   * its site's JetStream domain; the cloud consumes each site's stream through the leaf.
   */
  siteRunFacts: (site: string) => `${SUBJECT_ROOT}.evt.site.${assertToken(site, 'site name')}.run-facts`,

  /** Calls to a service type: every instance of name@version listens in one queue group. */
  service: (name: string, version: string) =>
    `${SUBJECT_ROOT}.svc.${assertToken(name, 'service name')}.${versionToken(version)}`,
  /** Calls pinned to one instance. */
  instance: (instanceId: string) => `${SUBJECT_ROOT}.inst.${assertToken(instanceId, 'instance id')}`,
  /** Control of one instance (new settings, e.g. another model version), separate from its calls. */
  instanceControl: (instanceId: string) =>
    `${SUBJECT_ROOT}.cmd.inst.${assertToken(instanceId, 'instance id')}.configure`,
} as const;

/** The node id token of a `yb.evt.node.<id>.<event>` subject. */
export function nodeIdOfEventSubject(subject: string): string {
  return subject.split('.')[3];
}
