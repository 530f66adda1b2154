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

@ApiTags('nodes')
@Controller()
export class EnrolmentController {
  constructor(@Inject(EnrolmentService) private readonly enrolment: EnrolmentService) {}

  @Post('nodes/enrolments')
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Issue a single-use enrolment token for a node id and site (shown this once)' })
  @ApiBody({ schema: ENROLMENT_REQUEST_SCHEMA })
  @ApiResponse({ status: 201, description: '{ id, token, nodeId, site, expiresAt }' })
  @ApiResponse({ status: 400, schema: ERROR_BODY })
  create(@Body() body: EnrolmentRequest, @CurrentPrincipal() principal: Principal): Promise<EnrolmentCreated> {
    return this.enrolment.createEnrolment(body, principal.id);
  }

  @Post('nodes/enrol')
  @ApiOperation({
    summary: "Trade an enrolment token for the node's NATS credentials (no API key: the token is the credential)",
  })
  @ApiBody({ schema: ENROL_SCHEMA })
  @ApiResponse({ status: 201, description: '{ nodeId, site, credentials, inboxPrefix, userKey }' })
  @ApiResponse({ status: 401, schema: ERROR_BODY })
  @ApiResponse({ status: 409, schema: ERROR_BODY })
  enrol(@Body() body: EnrolRequest): Promise<EnrolReply> {
    const services = Array.isArray(body?.services) ? body.services : [];
    if (body?.joinToken !== undefined) return this.enrolment.join(body.joinToken, body.nodeId, body.site, services);
    return this.enrolment.enrol(body?.token as string, services);
  }

  @Delete('nodes/:id/credentials')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({ summary: "Revoke a node's NATS credentials: every server closes its connections at once" })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  revoke(@Param('id') id: string, @CurrentPrincipal() principal: Principal): Promise<EnrolledNode> {
    return this.enrolment.revoke(id, principal.id);
  }

  @Post('sites/:site/leaf-credentials')
  @ApiBearerAuth()
  @ApiOperation({ summary: "Credentials for a site's leaf node (its connection to the hub)" })
  @ApiResponse({ status: 201, description: '{ site, credentials, userKey }' })
  leaf(@Param('site') site: string): Promise<{ site: string; credentials: string; userKey: string }> {
    return this.enrolment.leafCredentials(site);
  }
}
