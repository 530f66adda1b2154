import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { ApiKeyCreated, ApiKeyRequest, ApiKeyView, AuditEntry, Principal } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { ERROR_BODY } from '../catalog/catalog.schemas';
import { JsonSchemaPipe } from '../http/json-schema.pipe';
import { API_KEY_REQUEST_SCHEMA, keyRequestProblem, keyView } from './api-key';
import { API_KEY_CREATED, API_KEY_VIEW, AUDIT_ENTRY, KEY_REVOKED, PRINCIPAL } from './auth.schemas';
import { ApiKeyStore } from './api-key.store';
import { parseAuditQuery } from './audit-query';
import { AuditService } from './audit.service';
import { CurrentPrincipal } from './auth.guard';

@ApiTags('auth')
@ApiBearerAuth()
@Controller()
export class AuthController {
  constructor(
    @Inject(ApiKeyStore) private readonly keys: ApiKeyStore,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  @Post('auth/keys')
  @ApiOperation({ summary: 'Create an API key; the answer holds the key itself, shown this once' })
  @ApiBody({ schema: API_KEY_REQUEST_SCHEMA as unknown as Record<string, unknown> })
  @ApiResponse({ status: 201, schema: API_KEY_CREATED, description: 'the key, with its secret shown this once' })
  @ApiResponse({ status: 400, schema: ERROR_BODY })
  async create(
    @Body(new JsonSchemaPipe(API_KEY_REQUEST_SCHEMA as unknown as Record<string, unknown>)) body: ApiKeyRequest,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ApiKeyCreated> {
    const problem = keyRequestProblem(body, principal, new Date());
    if (problem) throw new YunbianError('BAD_REQUEST', `POST /auth/keys: ${problem}`);
    const { record, key } = await this.keys.create(body, principal.id);
    return { ...keyView(record), key };
  }

  @Get('auth/keys')
  @ApiOperation({ summary: 'API keys (never their secrets)' })
  @ApiResponse({ status: 200, schema: { type: 'array', items: API_KEY_VIEW } })
  list(): Promise<ApiKeyView[]> {
    return this.keys.list();
  }

  @Delete('auth/keys/:id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Revoke an API key: refused at once here, within 1 s on every replica' })
  @ApiResponse({ status: 200, schema: KEY_REVOKED })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  async revoke(@Param('id') id: string): Promise<{ id: string; revoked: true }> {
    if (!(await this.keys.revoke(id)))
      throw new YunbianError('NOT_FOUND', `no API key ${id}; GET /auth/keys lists them`, { id });
    return { id, revoked: true };
  }

  @Get('auth/whoami')
  @ApiOperation({ summary: 'The credential this request came with: kind, id, role, sites' })
  @ApiResponse({ status: 200, schema: PRINCIPAL })
  whoami(@CurrentPrincipal() principal: Principal): Principal {
    return principal;
  }

  @Get('audit')
  @ApiOperation({ summary: 'Audit entries (mutating calls and recorded refusals), oldest first' })
  @ApiQuery({ name: 'since', required: false, description: 'ISO 8601 time: the first entries from then' })
  @ApiQuery({
    name: 'actor',
    required: false,
    description: 'key id or token subject (`anonymous` for refused callers)',
  })
  @ApiQuery({ name: 'limit', required: false, description: '1–1000 (default 100); without since, the newest' })
  @ApiResponse({ status: 200, schema: { type: 'array', items: AUDIT_ENTRY } })
  @ApiResponse({ status: 400, schema: ERROR_BODY })
  async entries(@Query() query: Record<string, unknown>): Promise<AuditEntry[]> {
    const parsed = parseAuditQuery(query);
    if (typeof parsed === 'string') throw new YunbianError('BAD_REQUEST', `GET /audit: ${parsed}`);
    return this.audit.query(parsed);
  }
}
