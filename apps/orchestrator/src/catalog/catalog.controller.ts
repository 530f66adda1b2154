import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';

import {
  type Principal,
  DEFAULT_DRAIN_TIMEOUT_MS,
  MAX_DRAIN_TIMEOUT_MS,
  type InstanceRecord,
  type NodeRecord,
  type ServiceRecord,
} from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { JsonSchemaPipe } from '../http/json-schema.pipe';
import { CurrentPrincipal } from '../auth/auth.guard';
import { siteProblem } from '../auth/site-scope';
import { CatalogService, type CatalogStats } from './catalog.service';
import {
  CATALOG_STATS,
  ERROR_BODY,
  type SchemaObject,
  INSTANCE_RECORD,
  NODE_RECORD,
  SERVICE_RECORD,
  SERVICE_VERSIONS,
  START_INSTANCE_BODY,
} from './catalog.schemas';
import { DeploymentService, type StartInstanceRequest } from './deployment.service';

const CONFIGURE_BODY = {
  type: 'object',
  required: ['config'],
  additionalProperties: false,
  properties: { config: { type: 'object' } },
};

const list = (items: SchemaObject): SchemaObject => ({ type: 'array', items });

/** 403 unless a site-scoped credential covers `site`. */
function assertSite(principal: Principal | undefined, site: string | undefined, what: string): void {
  const problem = siteProblem(principal, site, what);
  if (problem) throw new YunbianError('FORBIDDEN', problem, { site, sites: principal?.sites });
}

@ApiTags('catalogue')
@Controller()
export class CatalogController {
  constructor(
    @Inject(CatalogService) private readonly catalog: CatalogService,
    @Inject(DeploymentService) private readonly deployment: DeploymentService,
  ) {}

  @Get('nodes')
  @ApiOperation({ summary: 'Nodes with their tags, cost, status, live load and measured round trips' })
  @ApiResponse({ status: 200, schema: list(NODE_RECORD) })
  nodes(@CurrentPrincipal() principal?: Principal): NodeRecord[] {
    // A site-scoped credential sees its sites' nodes only.
    return this.catalog.listNodes().filter((n) => !siteProblem(principal, n.site, ''));
  }

  @Get('nodes/:id')
  @ApiOperation({ summary: 'One node, with the instances on it' })
  @ApiResponse({ status: 200, schema: NODE_RECORD })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  node(
    @Param('id') id: string,
    @CurrentPrincipal() principal?: Principal,
  ): NodeRecord & { instances: InstanceRecord[] } {
    const node = this.catalog.node(id);
    assertSite(principal, node.site, `node ${id}`);
    return { ...node, instances: this.catalog.listInstances({ nodeId: id }) };
  }

  @Delete('nodes/:id')
  @ApiOperation({ summary: 'Remove a dead node and the instances listed on it from the catalogue' })
  @ApiResponse({ status: 200, schema: NODE_RECORD, description: 'the node as it was' })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  @ApiResponse({ status: 409, schema: ERROR_BODY, description: 'the node is alive or suspect' })
  removeNode(@Param('id') id: string, @CurrentPrincipal() principal?: Principal): NodeRecord {
    this.catalog.assertAuthority('remove nodes from the catalogue');
    assertSite(principal, this.catalog.node(id).site, `node ${id}`);
    return this.catalog.removeNode(id);
  }

  @Get('services')
  @ApiOperation({ summary: 'Service types, the nodes that can run them and their instance counts' })
  @ApiResponse({ status: 200, schema: list(SERVICE_RECORD) })
  services(): ServiceRecord[] {
    return this.catalog.listServices();
  }

  @Get('services/:name')
  @ApiOperation({ summary: 'Every catalogued version of one service' })
  @ApiResponse({ status: 200, schema: SERVICE_VERSIONS })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  service(@Param('name') name: string): { name: string; versions: ServiceRecord[] } {
    const versions = this.catalog.serviceVersions(name);
    if (!versions.length) this.deployment.resolveService(name); // throws the 404 naming what exists
    return { name, versions: versions.map((v) => this.catalog.serviceRecord(v)) };
  }

  @Get('instances')
  @ApiOperation({ summary: 'Instances, optionally filtered' })
  @ApiQuery({ name: 'node', required: false })
  @ApiQuery({ name: 'service', required: false, description: 'name or name@version' })
  @ApiQuery({ name: 'status', required: false, enum: ['starting', 'ready', 'draining', 'failed'] })
  @ApiResponse({ status: 200, schema: list(INSTANCE_RECORD) })
  instances(
    @Query('node') nodeId?: string,
    @Query('service') service?: string,
    @Query('status') status?: string,
    @CurrentPrincipal() principal?: Principal,
  ): InstanceRecord[] {
    const instances = this.catalog.listInstances({ nodeId, service, status });
    return principal?.sites ? instances.filter((i) => !siteProblem(principal, this.nodeSite(i.nodeId), '')) : instances;
  }

  @Get('instances/:id')
  @ApiOperation({ summary: 'One instance' })
  @ApiResponse({ status: 200, schema: INSTANCE_RECORD })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  instance(@Param('id') id: string, @CurrentPrincipal() principal?: Principal): InstanceRecord {
    const instance = this.catalog.instance(id);
    assertSite(principal, this.nodeSite(instance.nodeId), `instance ${id}`);
    return instance;
  }

  @Post('instances')
  @ApiOperation({ summary: 'Start service@version on a node (checked against its tier, tags and free memory)' })
  @ApiBody({ schema: START_INSTANCE_BODY })
  @ApiResponse({ status: 201, schema: INSTANCE_RECORD, description: 'the instance, usually still `starting`' })
  @ApiResponse({ status: 400, schema: ERROR_BODY, description: 'malformed body' })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'unknown service, version or node' })
  @ApiResponse({ status: 409, schema: ERROR_BODY, description: 'node is suspect or dead' })
  @ApiResponse({ status: 422, schema: ERROR_BODY, description: 'node lacks a hardware tag, the tier or the memory' })
  @ApiResponse({ status: 503, schema: ERROR_BODY, description: 'the agent did not answer' })
  start(
    @Body(new JsonSchemaPipe(START_INSTANCE_BODY as Record<string, unknown>)) body: StartInstanceRequest,
    @CurrentPrincipal() principal?: Principal,
  ): Promise<InstanceRecord> {
    if (principal?.sites) assertSite(principal, this.catalog.node(body.nodeId).site, `node ${body.nodeId}`);
    return this.deployment.start(body);
  }

  @Post('instances/:id/configure')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Give a running instance new settings, e.g. { "config": { "model": "ocr-rec@2" } } to hot-swap its model',
  })
  @ApiBody({ schema: { type: 'object', required: ['config'], properties: { config: { type: 'object' } } } })
  @ApiResponse({
    status: 200,
    schema: { type: 'object', description: "the instance's own answer (its service decides the fields)" },
  })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  @ApiResponse({ status: 409, schema: ERROR_BODY, description: 'the instance is not ready' })
  configure(
    @Param('id') id: string,
    @Body(new JsonSchemaPipe(CONFIGURE_BODY)) body: { config: Record<string, unknown> },
    @CurrentPrincipal() principal?: Principal,
  ) {
    if (principal?.sites) assertSite(principal, this.nodeSite(this.catalog.instance(id).nodeId), `instance ${id}`);
    return this.deployment.configure(id, body.config);
  }

  @Delete('instances/:id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Drain and stop an instance; it leaves the catalogue once stopped' })
  @ApiQuery({
    name: 'drainTimeoutMs',
    required: false,
    description: `time running requests get to finish, 0–${MAX_DRAIN_TIMEOUT_MS} ms (default ${DEFAULT_DRAIN_TIMEOUT_MS})`,
  })
  @ApiResponse({ status: 202, schema: INSTANCE_RECORD })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  stop(
    @Param('id') id: string,
    @Query('drainTimeoutMs') drainTimeoutMs?: string,
    @CurrentPrincipal() principal?: Principal,
  ): Promise<InstanceRecord> {
    if (principal?.sites) assertSite(principal, this.nodeSite(this.catalog.instance(id).nodeId), `instance ${id}`);
    let timeout: number | undefined;
    if (drainTimeoutMs !== undefined) {
      timeout = Number(drainTimeoutMs);
      if (!Number.isInteger(timeout) || timeout < 0 || timeout > MAX_DRAIN_TIMEOUT_MS) {
        throw new YunbianError(
          'BAD_REQUEST',
          `drainTimeoutMs must be an integer from 0 to ${MAX_DRAIN_TIMEOUT_MS} (one day, in ms; got "${String(drainTimeoutMs).slice(0, 40)}")`,
          { pointer: 'drainTimeoutMs', max: MAX_DRAIN_TIMEOUT_MS },
        );
      }
    }
    return this.deployment.stop(id, timeout);
  }

  /** The site of a catalogued node (undefined when it is gone). */
  private nodeSite(nodeId: string): string | undefined {
    return this.catalog.listNodes().find((n) => n.id === nodeId)?.site;
  }

  @Get('catalog/stats')
  @ApiOperation({ summary: 'Counts by status, heartbeat processing delay and dead marks' })
  @ApiResponse({ status: 200, schema: CATALOG_STATS })
  stats(): CatalogStats {
    return this.catalog.stats();
  }
}
