import { Body, Controller, Delete, Get, Headers, Inject, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConsumes,
  ApiHeader,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { formatIssues } from '@yunbian/common';
import type { ModelAlias, ModelAliasSpec } from '@yunbian/contracts';
import { aliasSpecIssues, ANONYMOUS_ACTOR, type ModelMeta } from '@yunbian/models';
import { YunbianError } from '@yunbian/transport';
import { ERROR_BODY, type SchemaObject } from '../catalog/catalog.schemas';
import { AcceptsBody } from '../http/request-guards';
import { missingBodyMessage } from '../http/request-mistakes';
import { ModelAliasesService } from './model-aliases.service';
import { MODEL_ALIAS, MODEL_ALIAS_SPEC, MODEL_DELETED, MODEL_META, MODEL_VERSIONS } from './models.schemas';
import { ModelsService } from './models.service';

/** Who set an alias: the `X-Yunbian-Actor` header until requests carry a credential. */
const ACTOR_HEADER = {
  name: 'X-Yunbian-Actor',
  required: false,
  description: `who sets the alias, recorded as setBy (default "${ANONYMOUS_ACTOR}"; no authentication exists yet)`,
};
const ACTOR_PATTERN = /^[\x21-\x7e][\x20-\x7e]{0,127}$/;

const list = (items: SchemaObject): SchemaObject => ({ type: 'array', items });
const OCTET_STREAM = 'application/octet-stream';

@ApiTags('models')
@Controller('models')
export class ModelsController {
  constructor(
    @Inject(ModelsService) private readonly models: ModelsService,
    @Inject(ModelAliasesService) private readonly aliases: ModelAliasesService,
  ) {}

  @Get(':name/aliases')
  @ApiOperation({ summary: 'The aliases of a model (stable, and any other), with who set them and when' })
  @ApiResponse({ status: 200, schema: list(MODEL_ALIAS) })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'unknown model' })
  aliasList(@Param('name') name: string): ModelAlias[] {
    this.models.model(name);
    return this.aliases.aliasesOf(name);
  }

  @Get(':name/aliases/:alias')
  @ApiOperation({ summary: 'One alias of a model' })
  @ApiResponse({ status: 200, schema: MODEL_ALIAS })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  aliasGet(@Param('name') name: string, @Param('alias') alias: string): ModelAlias {
    this.models.model(name);
    const held = this.aliases.alias(name, alias);
    if (!held) {
      const set = this.aliases.aliasesOf(name).map((a) => a.alias);
      throw new YunbianError(
        'NOT_FOUND',
        `model ${name} has no alias "${alias}"; its aliases: ${set.join(', ') || 'none'}`,
      );
    }
    return held;
  }

  @Put(':name/aliases/:alias')
  @ApiOperation({
    summary: 'Point an alias at a version, optionally with a canary share (name@canary names the canary of stable)',
    description:
      'Stored durably (JetStream KV yb-model-aliases) with who set it (X-Yunbian-Actor) and when. Steps naming name@alias route to instances serving its version; a share of them, drawn per run, step and element, to the canary version.',
  })
  @ApiHeader(ACTOR_HEADER)
  @ApiBody({ schema: MODEL_ALIAS_SPEC })
  @ApiResponse({ status: 200, schema: MODEL_ALIAS })
  @ApiResponse({ status: 400, schema: ERROR_BODY, description: 'invalid alias or body; versions that do not exist' })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'unknown model' })
  aliasPut(
    @Param('name') name: string,
    @Param('alias') alias: string,
    @Body() body: unknown,
    @Headers('x-yunbian-actor') actor: string | undefined,
  ): Promise<ModelAlias> {
    if (body === undefined) throw new YunbianError('BAD_REQUEST', missingBodyMessage());
    const versions = this.models.model(name).map((m) => m.version);
    const issues = aliasSpecIssues(name, alias, body, versions);
    if (actor !== undefined && !ACTOR_PATTERN.test(actor)) {
      issues.push({ pointer: 'X-Yunbian-Actor', message: 'must be 1-128 printable ASCII characters' });
    }
    if (issues.length) {
      throw new YunbianError('VALIDATION_FAILED', `alias ${name}@${alias} was not set: ${formatIssues(issues)}`, {
        issues,
        versions,
      });
    }
    return this.aliases.set(name, alias, body as ModelAliasSpec, actor ?? ANONYMOUS_ACTOR);
  }

  @Delete(':name/aliases/:alias')
  @ApiOperation({ summary: 'Remove an alias (steps naming it then fail saying it is not set)' })
  @ApiResponse({ status: 200, schema: MODEL_ALIAS, description: 'the alias as it was' })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  aliasDelete(@Param('name') name: string, @Param('alias') alias: string): Promise<ModelAlias> {
    this.models.model(name);
    return this.aliases.delete(name, alias);
  }

  @Post()
  @AcceptsBody(OCTET_STREAM)
  @ApiOperation({
    summary: 'Upload an ONNX model as the next version of `name` (raw body, application/octet-stream)',
    description:
      'The file is loaded by onnxruntime in a separate process to read its inputs and outputs; nothing is stored unless that works. The same bytes under the same name return the stored version (200).',
  })
  @ApiQuery({ name: 'name', required: true, description: '1-128 letters, digits, `_` or `-`', example: 'ocr-det' })
  @ApiConsumes(OCTET_STREAM)
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiResponse({ status: 201, schema: MODEL_META, description: 'stored as a new version' })
  @ApiResponse({ status: 200, schema: MODEL_META, description: 'these bytes are already this version' })
  @ApiResponse({
    status: 400,
    schema: ERROR_BODY,
    description: "bad name, wrong content type, or onnxruntime's refusal",
  })
  @ApiResponse({ status: 413, schema: ERROR_BODY, description: 'larger than YUNBIAN_MODEL_MAX_BYTES (256 MiB)' })
  @ApiResponse({ status: 504, schema: ERROR_BODY, description: 'onnxruntime took too long to load the file' })
  async upload(
    @Query('name') name: string | undefined,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ModelMeta> {
    const contentType = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (contentType !== OCTET_STREAM) {
      throw new YunbianError(
        'BAD_REQUEST',
        `send the ONNX file as the raw request body with Content-Type: ${OCTET_STREAM} (got "${contentType || 'none'}")`,
      );
    }
    const length = request.headers['content-length'];
    const { meta, created } = await this.models.upload(
      name,
      request,
      length === undefined ? undefined : Number(length),
    );
    response.status(created ? 201 : 200);
    return meta;
  }

  @Get()
  @ApiOperation({ summary: 'The latest version of every model' })
  @ApiResponse({ status: 200, schema: list(MODEL_META) })
  list(): ModelMeta[] {
    return this.models.list();
  }

  @Get(':name')
  @ApiOperation({ summary: 'Every version of one model, oldest first' })
  @ApiResponse({ status: 200, schema: MODEL_VERSIONS })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  model(@Param('name') name: string): { name: string; versions: ModelMeta[] } {
    return { name, versions: this.models.model(name) };
  }

  @Get(':name/versions/:version')
  @ApiOperation({ summary: 'Metadata of one version' })
  @ApiResponse({ status: 200, schema: MODEL_META })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  version(@Param('name') name: string, @Param('version') version: string): ModelMeta {
    return this.models.get(name, parseVersion(version));
  }

  @Get(':name/versions/:version/content')
  @ApiOperation({ summary: 'The bytes of one version (header X-Model-Sha256 carries their hash)' })
  @ApiProduces(OCTET_STREAM)
  @ApiResponse({ status: 200, schema: { type: 'string', format: 'binary' } })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  async content(
    @Param('name') name: string,
    @Param('version') version: string,
    @Res() response: Response,
  ): Promise<void> {
    const meta = this.models.get(name, parseVersion(version));
    const stream = await this.models.content(meta);
    response.status(200).set({
      'content-type': OCTET_STREAM,
      'content-length': String(meta.size),
      'content-disposition': `attachment; filename="${meta.name}-v${meta.version}.onnx"`,
      etag: `"${meta.sha256}"`,
      'x-model-sha256': meta.sha256,
    });
    // Headers are gone once bytes flow; a failure mid-stream can only cut the connection.
    stream.on('error', () => response.destroy());
    stream.pipe(response);
  }

  @Delete(':name')
  @ApiOperation({ summary: 'Delete every version of a model (metadata and bytes)' })
  @ApiResponse({ status: 200, schema: MODEL_DELETED })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  async deleteModel(@Param('name') name: string): Promise<{ name: string; deleted: ModelMeta[] }> {
    return { name, deleted: await this.models.deleteModel(name) };
  }

  @Delete(':name/versions/:version')
  @ApiOperation({ summary: 'Delete one version (metadata and bytes); its number may be reused if it was the latest' })
  @ApiResponse({ status: 200, schema: MODEL_META })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  deleteVersion(@Param('name') name: string, @Param('version') version: string): Promise<ModelMeta> {
    return this.models.deleteVersion(name, parseVersion(version));
  }
}

function parseVersion(raw: string): number {
  const version = Number(raw);
  if (!Number.isInteger(version) || version < 1) {
    throw new YunbianError('BAD_REQUEST', `model version must be a positive integer (got "${raw}")`);
  }
  return version;
}
