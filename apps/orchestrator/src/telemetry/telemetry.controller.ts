import { Body, Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import {
  TELEMETRY_CLOUD_STREAM,
  type Principal,
  type TelemetryTransferRequest,
  type TelemetryTransferResult,
} from '@yunbian/contracts';
import { CurrentPrincipal } from '../auth/auth.guard';
import { ERROR_BODY } from '../catalog/catalog.schemas';
import { JsonSchemaPipe } from '../http/json-schema.pipe';
import { TelemetryService } from './telemetry.service';

const TRANSFER_SCHEMA = {
  type: 'object',
  required: ['from', 'to'],
  additionalProperties: false,
  properties: {
    from: { type: 'string', minLength: 1, maxLength: 64, description: 'the site the readings leave' },
    to: { type: 'string', minLength: 1, maxLength: 64, description: 'the site they go to' },
  },
};

@ApiTags('telemetry')
@Controller('telemetry')
export class TelemetryController {
  constructor(@Inject(TelemetryService) private readonly telemetry: TelemetryService) {}

  @Get('sites')
  @ApiOperation({ summary: 'Sites whose public telemetry summaries the cloud stream yb-telemetry-agg sources' })
  @ApiResponse({
    status: 200,
    description: 'the cloud stream and the sites it sources',
    schema: {
      type: 'object',
      required: ['stream', 'sites'],
      properties: { stream: { type: 'string' }, sites: { type: 'array', items: { type: 'string' } } },
    },
  })
  sites(): { stream: string; sites: string[] } {
    return { stream: TELEMETRY_CLOUD_STREAM, sites: this.telemetry.sourcedSites() };
  }

  @Post('users/:user/transfer')
  @HttpCode(200)
  @ApiBearerAuth()
  @ApiOperation({
    summary:
      'Move a user’s edge-private telemetry readings from one site to another (copied, then deleted at the first; audited)',
  })
  @ApiBody({ schema: TRANSFER_SCHEMA })
  @ApiResponse({
    status: 200,
    description: 'what was moved',
    schema: {
      type: 'object',
      required: ['user', 'from', 'to', 'count'],
      properties: {
        user: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        count: { type: 'integer', description: 'readings copied to `to`, then deleted at `from`' },
      },
    },
  })
  @ApiResponse({ status: 400, schema: ERROR_BODY, description: 'bad sites, saying what is accepted' })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'the first site has no telemetry stream' })
  transfer(
    @Param('user') user: string,
    @Body(new JsonSchemaPipe(TRANSFER_SCHEMA)) body: TelemetryTransferRequest,
    @CurrentPrincipal() principal: Principal,
  ): Promise<TelemetryTransferResult> {
    return this.telemetry.transfer(user, body, principal);
  }
}
