import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { DeploymentAction, DeploymentRecord, DeploymentSpec, DeploymentView } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import { ERROR_BODY, type SchemaObject } from '../catalog/catalog.schemas';
import { JsonSchemaPipe } from '../http/json-schema.pipe';
import {
  DEPLOYMENT_CHANGE,
  DEPLOYMENT_PUT_SCHEMA,
  DEPLOYMENT_SPEC_SCHEMA,
  DEPLOYMENT_VIEW,
} from './deployments.schemas';
import { DeploymentsService } from './deployments.service';
import { drainAction, ReconcilerService, startAction } from './reconciler.service';

export interface DeploymentChange {
  deployment: DeploymentView;
  dryRun: boolean;
  /** Every start and drain: done (with `instanceId`, or `error`), or in a dry run what would be done. */
  actions: DeploymentAction[];
}

/** `?dryRun=true`: list what would change and change nothing. */
function dryRunFlag(raw: string | undefined): boolean {
  if (raw === undefined || raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new YunbianError('BAD_REQUEST', `dryRun must be true or false (got "${raw}")`, { pointer: '?dryRun' });
}

const DRY_RUN = {
  name: 'dryRun',
  required: false,
  description: 'true: list every start and drain it would take, and change nothing',
};

@ApiTags('deployments')
@Controller('deployments')
export class DeploymentsController {
  constructor(
    @Inject(DeploymentsService) private readonly deployments: DeploymentsService,
    @Inject(ReconcilerService) private readonly reconciler: ReconcilerService,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Declare a deployment: a service, its config, replicas per pool or site; reconciled continuously',
  })
  @ApiBody({ schema: DEPLOYMENT_SPEC_SCHEMA as unknown as SchemaObject })
  @ApiQuery(DRY_RUN)
  @ApiResponse({ status: 201, schema: DEPLOYMENT_CHANGE, description: 'declared' })
  @ApiResponse({ status: 200, schema: DEPLOYMENT_CHANGE, description: 'dry run: what would change; nothing created' })
  @ApiResponse({ status: 400, schema: ERROR_BODY, description: 'invalid spec: every problem with its JSON pointer' })
  @ApiResponse({ status: 409, schema: ERROR_BODY, description: 'the deployment exists (PUT changes it)' })
  create(
    @Body(new JsonSchemaPipe(DEPLOYMENT_SPEC_SCHEMA as unknown as Record<string, unknown>)) spec: DeploymentSpec,
    @Res({ passthrough: true }) response: Response,
    @Query('dryRun') dryRun?: string,
  ): Promise<DeploymentChange> {
    const dry = dryRunFlag(dryRun);
    // A dry run creates nothing: 200, not 201.
    response.status(dry ? 200 : 201);
    return this.change(this.deployments.prepare(spec, 'create'), dry);
  }

  @Get()
  @ApiOperation({ summary: 'Deployments with their status: desired and ready replicas per site, owned instances' })
  @ApiResponse({ status: 200, schema: { type: 'array', items: DEPLOYMENT_VIEW } })
  list(): DeploymentView[] {
    this.deployments.assertCloud();
    return this.deployments.list().map((r) => this.view(r));
  }

  @Get(':name')
  @ApiOperation({ summary: 'One deployment and its status' })
  @ApiResponse({ status: 200, schema: DEPLOYMENT_VIEW })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  get(@Param('name') name: string): DeploymentView {
    this.deployments.assertCloud();
    return this.view(this.deployments.get(name));
  }

  @Put(':name')
  @ApiOperation({
    summary: 'Create or replace a deployment; a new service, config or resources replaces its replicas',
  })
  @ApiBody({ schema: DEPLOYMENT_PUT_SCHEMA as unknown as SchemaObject })
  @ApiQuery(DRY_RUN)
  @ApiResponse({ status: 200, schema: DEPLOYMENT_CHANGE })
  @ApiResponse({ status: 400, schema: ERROR_BODY })
  replace(
    @Param('name') name: string,
    @Body(new JsonSchemaPipe(DEPLOYMENT_PUT_SCHEMA as unknown as Record<string, unknown>))
    body: Omit<DeploymentSpec, 'name'> & { name?: string },
    @Query('dryRun') dryRun?: string,
  ): Promise<DeploymentChange> {
    if (body.name !== undefined && body.name !== name) {
      throw new YunbianError(
        'BAD_REQUEST',
        `/name "${body.name}" differs from the deployment in the path ("${name}"); leave it out or make them equal`,
        { pointer: '/name' },
      );
    }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name))
      throw new YunbianError('BAD_REQUEST', `deployment name "${name}" must be 1–64 letters, digits, - or _`);
    return this.change(this.deployments.prepare({ ...body, name }, 'replace'), dryRunFlag(dryRun));
  }

  @Delete(':name')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Delete a deployment and drain its instances (those on unreachable nodes once they return)',
  })
  @ApiQuery(DRY_RUN)
  @ApiResponse({ status: 200, schema: DEPLOYMENT_CHANGE })
  @ApiResponse({ status: 404, schema: ERROR_BODY })
  async remove(@Param('name') name: string, @Query('dryRun') dryRun?: string): Promise<DeploymentChange> {
    this.deployments.assertCloud();
    const record = this.deployments.get(name);
    const deployment = this.view(record);
    if (dryRunFlag(dryRun)) {
      const plan = this.reconciler.plan(this.deployments.list().filter((r) => r.spec.name !== name));
      const actions = plan.orphans.filter((d) => d.deployment === name).map(drainAction);
      return { deployment, dryRun: true, actions };
    }
    await this.deployments.delete(name);
    const actions = (await this.reconciler.reconcile()).filter((a) => a.deployment === name);
    return { deployment, dryRun: false, actions };
  }

  private async change(record: DeploymentRecord, dryRun: boolean): Promise<DeploymentChange> {
    const name = record.spec.name;
    // A model that is not registered would fail every replica later: refused now, saying what exists.
    await this.deployments.checkModel(record.spec);
    if (dryRun) {
      const others = this.deployments.list().filter((r) => r.spec.name !== name);
      const plan = this.reconciler.plan([...others, record]).deployments.find((d) => d.name === name)!;
      return {
        deployment: { ...record, status: plan.status },
        dryRun: true,
        actions: [...plan.starts.map(startAction), ...plan.drains.map(drainAction)],
      };
    }
    await this.deployments.save(record);
    const actions = (await this.reconciler.reconcile()).filter((a) => a.deployment === name);
    return { deployment: this.view(record), dryRun: false, actions };
  }

  private view(record: DeploymentRecord): DeploymentView {
    return { ...record, status: this.reconciler.status(record.spec.name) };
  }
}
