import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { NetworkView } from '@yunbian/contracts';
import { NetworkModel } from '@yunbian/placement';
import { YunbianError } from '@yunbian/transport';
import { CatalogService } from '../catalog/catalog.service';
import { ERROR_BODY, type SchemaObject } from '../catalog/catalog.schemas';

const AGE_MS = { type: 'number', description: 'age of the newest sample behind the figure, ms' };

export const NETWORK_VIEW: SchemaObject = {
  type: 'object',
  required: ['generatedAt', 'sites', 'links'],
  properties: {
    generatedAt: { type: 'string', format: 'date-time' },
    sites: { type: 'array', items: { type: 'string' }, description: 'every site of the catalogue' },
    links: {
      type: 'array',
      description: 'one entry per direction between two sites: the figures placement uses',
      items: {
        type: 'object',
        required: ['from', 'to', 'rttSource', 'bandwidthSource'],
        properties: {
          from: { type: 'string', example: 'factory-sz' },
          to: { type: 'string', example: 'cloud-hz' },
          rttMs: { type: 'number', description: 'measured by agents at `from`, else the default' },
          rttSource: { enum: ['measured', 'default'] },
          rttAgeMs: AGE_MS,
          bandwidthMbps: { type: 'number' },
          bandwidthSource: {
            enum: ['measured', 'declared', 'default'],
            description:
              'measured by agents (probes and real transfers; the reverse direction stands in while one is unmeasured), else the nodes’ declared `bandwidthMbps`, else the default',
          },
          bandwidthAgeMs: AGE_MS,
        },
      },
    },
  },
};

/** The network placement sees between sites (`GET /network`). */
@ApiTags('placement')
@Controller('network')
export class NetworkController {
  constructor(@Inject(CatalogService) private readonly catalog: CatalogService) {}

  @Get()
  @ApiOperation({
    summary: 'Site × site matrix: round trip and bandwidth per direction, where each figure came from and its age',
  })
  @ApiQuery({ name: 'site', required: false, description: 'only the links from or to this site' })
  @ApiResponse({ status: 200, schema: NETWORK_VIEW })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no node of the catalogue is at that site' })
  network(@Query('site') site?: string): NetworkView {
    // Built fresh, so the ages are as of this request.
    const view = NetworkModel.fromNodes(this.catalog.listNodes()).view();
    if (site === undefined || site === '') return view;
    if (!view.sites.includes(site)) {
      throw new YunbianError(
        'NOT_FOUND',
        `unknown site "${site}"; sites in the catalogue: ${view.sites.join(', ') || 'none (no node has joined)'}`,
        { site, sites: view.sites },
      );
    }
    return { ...view, links: view.links.filter((l) => l.from === site || l.to === site) };
  }
}
