import type { Attributes } from '@opentelemetry/api';
import { SUBJECT_ROOT, type NodeDescriptor } from '@yunbian/contracts';

/**
 * Attribute keys Yunbian puts on resources and spans. The OpenTelemetry ones follow the
 * semantic conventions (messaging, HTTP, errors); spelled here because the messaging keys
 * are still in the conventions' incubating entry point.
 */
export const YunbianAttributes = {
  nodeId: 'yunbian.node.id',
  nodeSite: 'yunbian.node.site',
  nodeTier: 'yunbian.node.tier',
  nodeTags: 'yunbian.node.tags',
  nodeArch: 'yunbian.node.arch',
  instanceId: 'yunbian.instance.id',
  /** `name@version` of the service an instance hosts. */
  serviceRef: 'yunbian.service.ref',
  /** The code of a YunbianError (VALIDATION_FAILED, TIMEOUT…) that failed a span. */
  errorCode: 'yunbian.error.code',
  workflow: 'yunbian.workflow.name',
  workflowVersion: 'yunbian.workflow.version',
  runId: 'yunbian.run.id',
  stepId: 'yunbian.step.id',
  stepAttempt: 'yunbian.step.attempt',
  placementStrategy: 'yunbian.placement.strategy',
  modelName: 'yunbian.model.name',
  modelVersion: 'yunbian.model.version',
} as const;

export const MessagingAttributes = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  destinationTemplate: 'messaging.destination.template',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  consumerGroup: 'messaging.consumer.group.name',
  bodySize: 'messaging.message.body.size',
} as const;

export const ErrorAttributes = { type: 'error.type' } as const;

/** Resource attributes of a process running on a node (agent, worker). */
export function nodeResourceAttributes(
  node: Pick<NodeDescriptor, 'id' | 'site' | 'tier'> & Partial<Pick<NodeDescriptor, 'tags' | 'arch'>>,
): Attributes {
  const attributes: Attributes = {
    [YunbianAttributes.nodeId]: node.id,
    [YunbianAttributes.nodeSite]: node.site,
    [YunbianAttributes.nodeTier]: node.tier,
  };
  if (node.tags) attributes[YunbianAttributes.nodeTags] = [...node.tags];
  if (node.arch) attributes[YunbianAttributes.nodeArch] = node.arch;
  return attributes;
}

/** Resource attributes of a worker: the instance and its service, plus the node it runs on. */
export function instanceResourceAttributes(instance: {
  instanceId: string;
  serviceRef: string;
  nodeId: string;
}): Attributes {
  return {
    [YunbianAttributes.instanceId]: instance.instanceId,
    [YunbianAttributes.serviceRef]: instance.serviceRef,
    [YunbianAttributes.nodeId]: instance.nodeId,
    // The standard key lets Jaeger and other backends tell replicas of one service apart.
    'service.instance.id': instance.instanceId,
  };
}

const root = SUBJECT_ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const SUBJECT_TEMPLATES: [RegExp, string][] = [
  [new RegExp(`^${root}\\.(evt|cmd)\\.node\\.[^.]+\\.`), `${SUBJECT_ROOT}.$1.node.{node}.`],
  [new RegExp(`^${root}\\.inst\\.[^.]+$`), `${SUBJECT_ROOT}.inst.{instance}`],
];

/**
 * The subject with its node or instance id replaced by a placeholder. Span names use it so
 * Jaeger lists one operation per kind of message, not one per node or instance.
 */
export function subjectTemplate(subject: string): string {
  for (const [pattern, template] of SUBJECT_TEMPLATES) {
    if (pattern.test(subject)) return subject.replace(pattern, template);
  }
  return subject;
}
