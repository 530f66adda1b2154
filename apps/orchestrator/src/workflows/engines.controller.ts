import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ENGINE_KINDS } from '@yunbian/contracts';
import type { SchemaObject } from '../catalog/catalog.schemas';
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
  },
};

@ApiTags('workflows')
@Controller()
export class EnginesController {
  constructor(@Inject(EnginesService) private readonly engines: EnginesService) {}

  @Get('engines')
  @ApiOperation({
    summary:
      'Live workflow engines (the cloud’s, site engines, embedded engines), from their announcements; one silent for 3 intervals is dropped',
  })
  @ApiResponse({ status: 200, schema: { type: 'array', items: LIVE_ENGINE } })
  list() {
    return this.engines.list();
  }
}
