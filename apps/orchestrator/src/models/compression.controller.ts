import { Body, Controller, Get, Inject, Param, Post, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import type { CompressRequest, CompressionJob } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { ERROR_BODY, type SchemaObject } from '../catalog/catalog.schemas';
import { JsonSchemaPipe } from '../http/json-schema.pipe';
import { COMPRESS_BODY } from './compression-request';
import { CompressionService } from './compression.service';

export const JOB: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['running', 'succeeded', 'failed'] },
    stage: { type: 'string' },
    model: { type: 'object' },
    result: { type: 'object', description: 'the registered version, once succeeded' },
    report: { type: 'object', description: 'sizes, accuracy and latency per node class next to the parent' },
    error: { type: 'object' },
  },
};

@ApiTags('models')
@Controller()
export class CompressionController {
  constructor(@Inject(CompressionService) private readonly compression: CompressionService) {}

  @Post('models/:name/versions/:version/compress')
  @ApiOperation({
    summary: 'Compress a model version into a new version (int8, prune, structured, distill)',
    description:
      'Answers 202 with a job at once; GET /compressions/{id} until it succeeds (result names the new version, whose metadata carries derivedFrom and the report) or fails.',
  })
  @ApiBody({ schema: COMPRESS_BODY as unknown as SchemaObject })
  @ApiResponse({ status: 202, schema: JOB })
  @ApiResponse({ status: 400, schema: ERROR_BODY })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  compress(
    @Param('name') name: string,
    @Param('version') version: string,
    @Body(new JsonSchemaPipe(COMPRESS_BODY as unknown as Record<string, unknown>)) body: CompressRequest,
    @Res({ passthrough: true }) response: Response,
  ): CompressionJob {
    const v = Number(version);
    if (!Number.isInteger(v) || v < 1)
      throw new YunbianError('BAD_REQUEST', `model version must be a positive integer (got "${version}")`);
    response.status(202);
    const job = this.compression.start(name, v, body);
    response.set('location', `/compressions/${job.id}`);
    return job;
  }

  @Get('compressions')
  @ApiOperation({ summary: 'Compression jobs of this orchestrator, newest first' })
  @ApiResponse({ status: 200, schema: { type: 'array', items: JOB } })
  list(): CompressionJob[] {
    return this.compression.list();
  }

  @Get('compressions/:id')
  @ApiOperation({ summary: 'One compression job' })
  @ApiResponse({ status: 200, schema: JOB })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  get(@Param('id') id: string): CompressionJob {
    return this.compression.get(id);
  }
}
