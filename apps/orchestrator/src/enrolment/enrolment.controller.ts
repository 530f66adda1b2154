import { Body, Controller, Delete, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type {
  EnrolledNode,
  EnrolmentCreated,
  EnrolmentRequest,
  EnrolReply,
  EnrolRequest,
  Principal,
} from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { ERROR_BODY } from '../catalog/catalog.schemas';
import { CurrentPrincipal } from '../auth/auth.guard';
import { EnrolmentService } from './enrolment.service';

const ENROLMENT_REQUEST_SCHEMA = {
  type: 'object',
  required: ['nodeId', 'site'],
  additionalProperties: false,
  properties: {
    nodeId: { type: 'string' },
    site: { type: 'string' },
    services: { type: 'array', items: { type: 'string' } },
    expiresInS: { type: 'integer', minimum: 1 },
  },
};
const ENROL_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  description: 'Either `token` (single-use), or `joinToken` with `nodeId` and `site`',
  properties: {
    token: { type: 'string' },
    joinToken: { type: 'string' },
    nodeId: { type: 'string' },
    site: { type: 'string' },
    services: { type: 'array', items: { type: 'string' } },
  },
};

const ENROLMENT_CREATED = {
  type: 'object',
  required: ['id', 'token', 'nodeId', 'site', 'expiresAt'],
  properties: {
    id: { type: 'string' },
    token: { type: 'string', description: 'ybe_<id>_<secret>, shown this once' },
    nodeId: { type: 'string' },
    site: { type: 'string' },
    expiresAt: { type: 'string', format: 'date-time' },
  },
};
const ENROL_REPLY = {
  type: 'object',
  required: ['nodeId', 'site', 'credentials', 'inboxPrefix', 'userKey'],
  properties: {
    nodeId: { type: 'string' },
    site: { type: 'string' },
    credentials: { type: 'string', description: "the node's NATS credentials (.creds file text)" },
    inboxPrefix: { type: 'string', example: '_INBOX_factory-sz.edge-a' },
    userKey: { type: 'string', description: 'the NATS user public key (what a revocation names)' },
  },
};
const ENROLLED_NODE = {
  type: 'object',
  required: ['nodeId', 'site', 'userKey', 'services', 'enrolmentId', 'issuedAt'],
  properties: {
    nodeId: { type: 'string' },
    site: { type: 'string' },
    userKey: { type: 'string' },
    services: { type: 'array', items: { type: 'string' } },
    enrolmentId: { type: 'string' },
    issuedAt: { type: 'string', format: 'date-time' },
    revokedAt: { type: 'string', format: 'date-time' },
    revokedBy: { type: 'string' },
  },
};
const LEAF_CREDENTIALS = {
  type: 'object',
  required: ['site', 'credentials', 'userKey'],
  properties: { site: { type: 'string' }, credentials: { type: 'string' }, userKey: { type: 'string' } },
};

@ApiTags('nodes')
@Controller()
export class EnrolmentController {
  constructor(@Inject(EnrolmentService) private readonly enrolment: EnrolmentService) {}

  @Post('nodes/enrolments')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Issue a single-use enrolment token for a node id and site (shown this once)' })
  @ApiBody({ schema: ENROLMENT_REQUEST_SCHEMA })
  @ApiResponse({ status: 201, description: 'the token, shown this once', schema: ENROLMENT_CREATED })
  @ApiResponse({ status: 400, schema: ERROR_BODY })
  create(@Body() body: EnrolmentRequest, @CurrentPrincipal() principal: Principal): Promise<EnrolmentCreated> {
    return this.enrolment.createEnrolment(body, principal.id);
  }

  @Post('nodes/enrol')
  @ApiOperation({
    summary: "Trade an enrolment token for the node's NATS credentials (no API key: the token is the credential)",
  })
  @ApiBody({ schema: ENROL_SCHEMA })
  @ApiResponse({ status: 201, description: "the node's NATS credentials", schema: ENROL_REPLY })
  @ApiResponse({ status: 400, schema: ERROR_BODY })
  @ApiResponse({ status: 401, schema: ERROR_BODY })
  @ApiResponse({ status: 409, schema: ERROR_BODY })
  enrol(@Body() body: EnrolRequest): Promise<EnrolReply> {
    if (typeof body?.token !== 'string' && typeof body?.joinToken !== 'string') {
      throw new YunbianError(
        'BAD_REQUEST',
        'POST /nodes/enrol needs { "token": "ybe_…" } (from POST /nodes/enrolments), or { "joinToken", "nodeId", "site" }',
      );
    }
    const services = Array.isArray(body?.services) ? body.services : [];
    if (body?.joinToken !== undefined) return this.enrolment.join(body.joinToken, body.nodeId, body.site, services);
    return this.enrolment.enrol(body?.token as string, services);
  }

  @Delete('nodes/:id/credentials')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({ summary: "Revoke a node's NATS credentials: every server closes its connections at once" })
  @ApiResponse({ status: 200, description: 'the enrolled node, revoked', schema: ENROLLED_NODE })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  revoke(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<EnrolledNode> {
    return this.enrolment.revoke(id, principal.id);
  }

  @Post('sites/:site/leaf-credentials')
  @ApiBearerAuth()
  @ApiOperation({ summary: "Credentials for a site's leaf node (its connection to the hub)" })
  @ApiResponse({ status: 201, description: "the leaf node's credentials", schema: LEAF_CREDENTIALS })
  leaf(@Param('site') site: string): Promise<{ site: string; credentials: string; userKey: string }> {
    return this.enrolment.leafCredentials(site);
  }
}
