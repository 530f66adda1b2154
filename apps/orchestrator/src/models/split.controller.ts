import { Body, Controller, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { SplitPlan, SplitPlanRequest, SplitProfileRequest, SplitRequest } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { ERROR_BODY } from '../catalog/catalog.schemas';
import { JsonSchemaPipe } from '../http/json-schema.pipe';
import { MODEL_META } from './models.schemas';
import { SPLIT_BODY, SPLIT_PLAN, SPLIT_PLAN_BODY, SPLIT_PROFILE_BODY } from './split.schemas';
import { SplitService } from './split.service';

/** Split inference: where to cut a model between two nodes, and its head and tail as versions. */
@ApiTags('models')
@Controller('models')
export class SplitController {
  constructor(@Inject(SplitService) private readonly split: SplitService) {}

  @Post(':name/versions/:version/split-plan')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Every cut of the model between two nodes with its estimate (head, transfer, RTT, tail), the chosen one and why',
    description:
      'Compute times: the version’s stored profiles for the node classes, else measured on the orchestrator and scaled by the class’s CPU limit (said in notes). Link: as measured now between the nodes, unless given.',
  })
  @ApiBody({ schema: SPLIT_PLAN_BODY as never })
  @ApiResponse({ status: 200, schema: SPLIT_PLAN })
  @ApiResponse({
    status: 400,
    schema: ERROR_BODY,
    description: 'invalid body, unknown node or class, input shape needed',
  })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'unknown model or version' })
  plan(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body(new JsonSchemaPipe(SPLIT_PLAN_BODY as unknown as Record<string, unknown>)) body: SplitPlanRequest,
  ): Promise<SplitPlan> {
    return this.split.plan(name, parseVersion(version), body);
  }

  @Post(':name/versions/:version/profile')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Measure the time of every compute node on a node (or a node of a class), stored in the version’s profiles',
    description:
      'The node runs onnxruntime’s profiler in its own cgroup, under its CPU limit; split plans then use the stored profile for that class. Nodes that join also profile the versions asked split plans for, once per class.',
  })
  @ApiBody({ schema: SPLIT_PROFILE_BODY as never })
  @ApiResponse({ status: 200, schema: { type: 'object' } })
  @ApiResponse({ status: 400, schema: ERROR_BODY, description: 'unknown node, input shape needed' })
  @ApiResponse({ status: 503, schema: ERROR_BODY, description: 'no alive node of the class, or it did not answer' })
  profile(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body(new JsonSchemaPipe(SPLIT_PROFILE_BODY as unknown as Record<string, unknown>)) body: SplitProfileRequest,
  ): ReturnType<SplitService['profile']> {
    return this.split.profile(name, parseVersion(version), body);
  }

  @Post(':name/versions/:version/split')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Register the head and tail of a cut as versions of <name>-head and <name>-tail, linked to this version',
  })
  @ApiBody({ schema: SPLIT_BODY as never })
  @ApiResponse({
    status: 200,
    schema: {
      type: 'object',
      properties: {
        parent: { type: 'object' },
        cut: { type: 'string' },
        tensors: { type: 'array', items: { type: 'string' } },
        head: MODEL_META,
        tail: MODEL_META,
        created: { type: 'boolean', description: 'false when both were registered before' },
      },
    },
  })
  @ApiResponse({ status: 400, schema: ERROR_BODY, description: 'not a cut of the model, or a trivial one' })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  register(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body(new JsonSchemaPipe(SPLIT_BODY as unknown as Record<string, unknown>)) body: SplitRequest,
  ): ReturnType<SplitService['split']> {
    return this.split.split(name, parseVersion(version), body);
  }
}

function parseVersion(raw: string): number {
  const version = Number(raw);
  if (!Number.isInteger(version) || version < 1)
    throw new YunbianError('BAD_REQUEST', `model version must be a positive integer (got "${raw}")`);
  return version;
}
