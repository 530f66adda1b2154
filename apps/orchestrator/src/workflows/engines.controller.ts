import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ENGINE_KINDS } from '@yunbian/contracts';
import type { SchemaObject } from '../catalog/catalog.schemas';
import { ReplicaService } from '../replicas/replicas.service';
import { EnginesService } from './engines.service';

export const LIVE_ENGINE: SchemaObject = {
  type: 'object',
  required: ['id', 'kind', 'startedAt', 'at', 'running', 'intervalMs', 'lastSeenAt', 'self'],
  properties: {
    id: { type: 'string', example: 'site-factory-sz' },
    kind: { enum: [...ENGINE_KINDS] },
    site: { type: 'string', description: 'the site it executes at', example: 'factory-sz' },
    domain: {
      type: 'string',
      description: 'JetStream domain of its run store (absent: the hub’s)',
      example: 'factory-sz',
    },
    startedAt: { type: 'string', format: 'date-time' },
    at: { type: 'string', format: 'date-time', description: 'when its last announcement was sent' },
    running: { type: 'integer', description: 'runs it executes now' },
    intervalMs: { type: 'integer', description: 'how often it announces' },
    lastSeenAt: { type: 'string', format: 'date-time', description: 'when its last announcement arrived here' },
    self: { type: 'boolean', description: 'this process’s own engine' },
    replica: {
      type: 'object',
      description:
        'cloud orchestrator replicas only: its lease in yb-leases as this process sees it, and whether it is the leader (decides catalogue liveness, reconciliation, schedule triggers, takeovers of embedded engines)',
      required: ['leader'],
      properties: {
        leader: { type: 'boolean' },
        leaseAgeMs: { type: 'integer', description: 'time since this process saw its lease renewed' },
        takenOverBy: { type: 'string', description: 'set while another replica takes its runs over' },
      },
    },
  },
};

@ApiTags('workflows')
@Controller()
export class EnginesController {
  constructor(
    @Inject(EnginesService) private readonly engines: EnginesService,
    @Inject(ReplicaService) private readonly replicas: ReplicaService,
  ) {}

  @Get('engines')
  @ApiOperation({
    summary:
      'Live workflow engines (the cloud’s, site engines, embedded engines), from their announcements; one silent for 3 intervals is dropped',
  })
  @ApiResponse({ status: 200, schema: { type: 'array', items: LIVE_ENGINE } })
  list() {
    if (!this.replicas.enabled) return this.engines.list();
    const leader = this.replicas.leaderId();
    const leases = new Map(this.replicas.leases().map((l) => [l.engineId, l]));
    return this.engines.list().map((engine) => {
      if (engine.kind !== 'cloud') return engine;
      const lease = leases.get(engine.id);
      return {
        ...engine,
        replica: {
          leader: engine.id === leader,
          ...(lease?.ageMs !== undefined ? { leaseAgeMs: lease.ageMs } : {}),
          ...(lease?.takenOverBy ? { takenOverBy: lease.takenOverBy } : {}),
        },
      };
    });
  }
}
