import { Body, Controller, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
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

/** `StoredPlan`: the request, and the plan (`ok: true`) or why none exists (`ok: false`). */
export const PLACEMENT_PLAN: SchemaObject = {
  type: 'object',
  required: ['id', 'request', 'createdAt', 'result'],
  properties: {
    id: { type: 'string' },
    request: PLAN_BODY,
    createdAt: { type: 'string', format: 'date-time' },
    result: {
      type: 'object',
      required: ['ok', 'solver'],
      properties: {
        ok: { type: 'boolean' },
        solver: { enum: ['exact', 'heuristic'] },
        provenOptimal: { type: 'boolean' },
        objective: { type: 'object', description: 'value, weights, costPerHour, runLatencyMs and their references' },
        services: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              service: { type: 'string' },
              instances: { type: 'integer' },
              placements: {
                type: 'array',
                items: { type: 'object', properties: { nodeId: { type: 'string' }, instances: { type: 'integer' } } },
              },
              costPerHour: { type: 'number' },
              meanLatencyMs: { type: 'number' },
              excluded: { type: 'array', items: { type: 'object' } },
              notes: { type: 'array', items: { type: 'string' } },
            },
          },
        },
        reasons: { type: 'array', items: { type: 'string' } },
        solveMs: { type: 'number' },
        error: { type: 'object', description: 'ok: false: UNSATISFIABLE, why, and details' },
      },
    },
  },
};

export const PLAN_APPLIED: SchemaObject = {
  type: 'object',
  required: ['plan', 'dryRun', 'actions'],
  properties: {
    plan: { type: 'string' },
    dryRun: { type: 'boolean' },
    actions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['action', 'service', 'nodeId'],
        properties: {
          action: { enum: ['start', 'drain', 'keep'] },
          service: { type: 'string' },
          nodeId: { type: 'string' },
          instanceId: { type: 'string' },
          error: { type: 'string' },
        },
      },
    },
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
  @ApiResponse({ status: 200, schema: PLACEMENT_PLAN })
  plan(@Body(new JsonSchemaPipe(PLAN_BODY as Record<string, unknown>)) body: PlanRequest) {
    return this.placements.plan(body);
  }

  @Get(':id')
  @ApiOperation({ summary: 'A plan made earlier' })
  @ApiResponse({ status: 200, schema: PLACEMENT_PLAN })
  @ApiResponse({ status: 404, description: 'no such plan (plans are kept in memory, the last 100)' })
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
  @ApiResponse({ status: 200, schema: PLAN_APPLIED })
  @ApiResponse({ status: 404, description: 'no such plan' })
  async apply(@Param('id') id: string, @Query('dryRun') dryRun?: string) {
    if (dryRun !== undefined && !['true', 'false', '1', '0', ''].includes(dryRun))
      throw new YunbianError('BAD_REQUEST', `dryRun must be true or false (got "${dryRun}")`);
    const dry = dryRun === 'true' || dryRun === '1';
    return { plan: id, dryRun: dry, actions: await this.placements.apply(id, dry) };
  }
}
