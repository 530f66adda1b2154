import { Controller, Delete, Get, Inject, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { DatasetMeta } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { ERROR_BODY, type SchemaObject } from '../catalog/catalog.schemas';
import { JsonSchemaPipe } from '../http/json-schema.pipe';
import { AcceptsBody, JSON_TYPE } from '../http/request-guards';
import { REGISTER_DIGITS_BODY, type RegisterDigitsBody, type UploadQuery } from './dataset-request';
import { DatasetsService } from './datasets.service';

export const DATASET: SchemaObject = {
  type: 'object',
  properties: {
    name: { type: 'string', example: 'digits-heldOut' },
    privacy: { type: 'string', enum: ['public', 'edge-private', 'user-private'] },
    labelled: { type: 'boolean' },
    count: { type: 'integer', example: 2000 },
    shape: { type: 'array', items: { type: 'integer' }, example: [1, 28, 28] },
    classes: { type: 'integer', example: 10 },
    size: { type: 'integer' },
    sha256: { type: 'string' },
    object: { type: 'object', properties: { bucket: { type: 'string' }, name: { type: 'string' } } },
    source: { type: 'object' },
    createdAt: { type: 'string', format: 'date-time' },
  },
};
const OCTET_STREAM = 'application/octet-stream';
const digitsPipe = new JsonSchemaPipe(REGISTER_DIGITS_BODY as unknown as Record<string, unknown>);

@ApiTags('datasets')
@Controller('datasets')
export class DatasetsController {
  constructor(@Inject(DatasetsService) private readonly datasets: DatasetsService) {}

  @Post()
  @AcceptsBody(JSON_TYPE, OCTET_STREAM)
  @ApiOperation({
    summary: 'Register a dataset: a range of the built-in digits split (JSON), or uploaded samples (raw body)',
    description:
      'JSON `{ "source": "digits", "part": "heldOut" }` registers the project\'s held-out digits. A raw body (application/octet-stream, with ?name=&shape=1,28,28&labelled=true&privacy=public) holds the samples as little-endian float32, back to back, then one uint8 label per sample when labelled.',
  })
  @ApiQuery({ name: 'name', required: false, description: 'raw uploads: the dataset name' })
  @ApiQuery({ name: 'shape', required: false, description: 'raw uploads: shape of one sample, e.g. 1,28,28' })
  @ApiQuery({ name: 'labelled', required: false, description: 'raw uploads: true (default) or false' })
  @ApiQuery({
    name: 'privacy',
    required: false,
    description: 'raw uploads: public (default), edge-private, user-private',
  })
  @ApiBody({ schema: REGISTER_DIGITS_BODY as unknown as SchemaObject })
  @ApiResponse({ status: 201, schema: DATASET })
  @ApiResponse({ status: 400, schema: ERROR_BODY, description: 'bad body or query, saying what is accepted' })
  @ApiResponse({ status: 409, schema: ERROR_BODY, description: 'the name is taken' })
  async register(
    @Query() query: UploadQuery,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<DatasetMeta> {
    const contentType = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    response.status(201);
    if (contentType === OCTET_STREAM) {
      const length = request.headers['content-length'];
      return this.datasets.upload(query, request, length === undefined ? undefined : Number(length));
    }
    if (contentType !== 'application/json') {
      throw new YunbianError(
        'BAD_REQUEST',
        `send JSON ({ "source": "digits", "part": "heldOut" }) or the samples as a raw body with Content-Type: ${OCTET_STREAM} (got "${contentType || 'none'}")`,
      );
    }
    return this.datasets.registerDigits(digitsPipe.transform(request.body) as RegisterDigitsBody);
  }

  @Get()
  @ApiOperation({ summary: 'Every registered dataset' })
  @ApiResponse({ status: 200, schema: { type: 'array', items: DATASET } })
  list(): DatasetMeta[] {
    return this.datasets.list();
  }

  @Get(':name')
  @ApiOperation({ summary: 'One dataset' })
  @ApiResponse({ status: 200, schema: DATASET })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  get(@Param('name') name: string): DatasetMeta {
    return this.datasets.get(name);
  }

  @Delete(':name')
  @ApiOperation({ summary: 'Delete a dataset (metadata and samples)' })
  @ApiResponse({ status: 200, schema: DATASET })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  delete(@Param('name') name: string): Promise<DatasetMeta> {
    return this.datasets.delete(name);
  }
}
