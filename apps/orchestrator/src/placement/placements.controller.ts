import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { YunbianError } from '@yunbian/transport';
import { OBJECTIVE_FORMS } from '@yunbian/contracts';
import type { SchemaObject } from '../catalog/catalog.schemas';
import { JsonSchemaPipe } from '../http/json-schema.pipe';
import { PlacementsService, type PlanRequest } from './placements.service';

/** Expected load a plan may be asked for, per entry: far beyond any cluster, far below what breaks the solver. */
export const MAX_RUNS_PER_SECOND = 1_000_000;

const PLAN_BODY: SchemaObject = {
  type: 'object',
  additionalProperties: false,
  required: ['workflow', 'load'],
  properties: {
    workflow: { type: 'string' },
    version: { type: 'integer', minimum: 1 },
    load: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['site', 'runsPerSecond'],
        properties: {
          site: { type: 'string' },
          nodeId: { type: 'string' },
          // Bounded: past ~1e15 the exact solver's LP coefficients cannot be read back (HiGHS refused it: a 500).
          runsPerSecond: { type: 'number', minimum: 0.001, maximum: MAX_RUNS_PER_SECOND },
        },
      },
    },
    objective: { type: 'string', description: OBJECTIVE_FORMS },
    solver: { enum: ['auto', 'exact', 'heuristic'] },
  },
};

@ApiTags('placement')
@Controller('placements')
export class PlacementsController {
  constructor(@Inject(PlacementsService) private readonly placements: PlacementsService) {}

  @Post('plan')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Plan which services of a workflow run on which nodes, and how many instances, for an expected load',
  })
  @ApiBody({ schema: PLAN_BODY })
  plan(@Body(new JsonSchemaPipe(PLAN_BODY as Record<string, unknown>)) body: PlanRequest) {
    return this.placements.plan(body);
  }

  @Get(':id')
  @ApiOperation({ summary: 'A plan made earlier' })
  get(@Param('id') id: string) {
    return this.placements.get(id);
  }

  @Post(':id/apply')
  @HttpCode(200)
  @ApiOperation({
    summary:
      "Start the planned instances that are missing and drain the ones beyond the plan, among the instances this workflow's applied plans started (never one-off instances or deployments' replicas)",
  })
  @ApiQuery({ name: 'dryRun', required: false, description: 'true: list every start and drain, do none' })
  async apply(@Param('id') id: string, @Query('dryRun') dryRun?: string) {
    if (dryRun !== undefined && !['true', 'false', '1', '0', ''].includes(dryRun))
      throw new YunbianError('BAD_REQUEST', `dryRun must be true or false (got "${dryRun}")`);
    const dry = dryRun === 'true' || dryRun === '1';
    return { plan: id, dryRun: dry, actions: await this.placements.apply(id, dry) };
  }
}
