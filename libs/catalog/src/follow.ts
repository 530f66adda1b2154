import type { Subscription } from '@nats-io/transport-node';
import {
  nodeIdOfEventSubject,
  Subjects,
  type InstanceStatusEvent,
  type NodeAnnouncement,
  type NodeHeartbeat,
  type NodeLeavingEvent,
} from '@yunbian/contracts';
import type { NatsTransport } from '@yunbian/transport';
import type { CatalogView } from './catalog-view';

/**
 * Feeds a view from the agents' events: announcements, heartbeats, instance events and
 * leavings. A heartbeat from a node the view does not know asks that node to announce
 * itself; once subscribed, every agent is asked to announce again (as after an
 * orchestrator restart), so the view fills in one round trip rather than one heartbeat period.
 */
export async function followCatalog(
  transport: NatsTransport,
  view: CatalogView,
  onError: (err: unknown, subject: string) => void = () => undefined,
): Promise<Subscription[]> {
  const t = transport;
  const subscriptions = [
    t.subscribe<NodeAnnouncement>(Subjects.nodeAnnounceAll, (a) => view.onAnnounce(a), onError),
    t.subscribe<NodeHeartbeat>(
      Subjects.nodeHeartbeatAll,
      (h, subject) => {
        if (view.onHeartbeat(h, subject)) return;
        t.request(Subjects.nodeReannounce(nodeIdOfEventSubject(subject)), {}, { timeoutMs: 2_000 }).catch(
          () => undefined,
        );
      },
      onError,
    ),
    t.subscribe<InstanceStatusEvent>(Subjects.instanceStatusAll, (e) => view.onInstanceEvent(e), onError),
    t.subscribe<NodeLeavingEvent>(Subjects.nodeLeavingAll, (e) => view.onLeaving(e), onError),
  ];
  await t.flush();
  // Agents answer by announcing again, which refreshes anything that changed while we were away.
  t.publish(Subjects.orchestratorOnline, { at: Date.now() });
  return subscriptions;
}
