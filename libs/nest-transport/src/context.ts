import { BaseRpcContext } from '@nestjs/microservices';
import type { CallContext, ServiceHeaders } from '@yunbian/service-sdk';

/**
 * The context a `@MessagePattern` handler gets with `@Ctx()` under `YunbianServer`: who serves
 * the call and what came with it. Handlers need not use it (nor import anything of Yunbian).
 */
export class YunbianContext extends BaseRpcContext<[string, CallContext]> {
  /** The `@MessagePattern` the call matched. */
  getPattern(): string {
    return this.args[0];
  }

  /** The Yunbian instance serving the call (one per pattern). */
  getInstanceId(): string {
    return this.args[1].instanceId;
  }

  getNodeId(): string {
    return this.args[1].nodeId;
  }

  /** `run:step:attempt` when a workflow engine calls (a repeat with the same key is answered without running again). */
  getIdempotencyKey(): string | undefined {
    return this.args[1].idempotencyKey;
  }

  /** The NATS headers of the request (trace context in `traceparent`). */
  getHeaders(): ServiceHeaders | undefined {
    return this.args[1].headers;
  }
}
