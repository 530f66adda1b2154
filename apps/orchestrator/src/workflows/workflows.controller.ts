import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import YAML from 'yaml';
import { RUN_ENGINE_CHOICES, type Principal, type RunEngineChoice } from '@yunbian/contracts';
import { YunbianError } from '@yunbian/transport';
import {
  DefinitionSource,
  locateIssues,
  WORKFLOW_SCHEMA,
  type Durability,
  type LocatedIssue,
  type RunStatus,
} from '@yunbian/workflow';
import { ERROR_BODY, type SchemaObject } from '../catalog/catalog.schemas';
import { AcceptsBody, JSON_TYPE, YAML_TYPES } from '../http/request-guards';
import { missingBodyMessage, RUN_BODY_KEYS, runBodyProblem } from '../http/request-mistakes';
import { valueNestingExceeds, nestingMessage } from '../http/request-limits';
import { RemoteRuns, type UnavailableSite } from './remote-runs.service';
import { CatalogService } from '../catalog/catalog.service';
import { CurrentPrincipal } from '../auth/auth.guard';
import { siteProblem } from '../auth/site-scope';
import { RunControl } from './run-control.service';
import { mergeRunLists } from './run-listing';
import { runView, type RunSummary } from './run-view';
import {
  isFinished,
  RUN_EVENTS_KEEPALIVE_MS,
  RUN_EVENTS_POLL_MS,
  runFingerprint,
  sseEvent,
  startEventStream,
} from './run-events';
import { TriggerRunner } from './triggers/trigger-runner.service';
import { WORKFLOW_VIEW } from './triggers/trigger.schemas';
import {
  RUN_BODY,
  RUN_DETAIL,
  RUN_SUMMARY,
  WORKFLOW_DELETED,
  WORKFLOW_RECORD,
  WORKFLOW_SUMMARY,
} from './workflows.schemas';
import { WorkflowEngine } from './workflow-engine.service';
import { WorkflowRegistry } from './workflow-registry.service';

const RUN_STATUSES: RunStatus[] = ['running', 'succeeded', 'failed', 'cancelled'];

/** Nesting a YAML body may reach (block nesting has no brackets for the body parser's pre-pass to count). */
const YAML_MAX_DEPTH = 100;

function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return body;
  let parsed: unknown;
  try {
    parsed = YAML.parse(body);
  } catch (err) {
    throw new YunbianError('BAD_REQUEST', `body is not valid YAML/JSON: ${(err as Error).message}`);
  }
  if (valueNestingExceeds(parsed, YAML_MAX_DEPTH))
    throw new YunbianError('PAYLOAD_TOO_LARGE', nestingMessage(YAML_MAX_DEPTH), { limit: YAML_MAX_DEPTH });
  return parsed;
}

/** Header of a GET /runs answer that lacks some site's runs: `<site>: <why>`, `; `-separated. */
const UNAVAILABLE_HEADER = 'Yb-Unavailable-Sites';

function unavailableHeader(sites: UnavailableSite[]): string {
  // A header value is one line of printable ASCII.
  return sites
    .map((s) => `${s.site}: ${s.reason}`)
    .join('; ')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 2_000);
}

function positiveInt(raw: string | undefined, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new YunbianError('BAD_REQUEST', `${name} must be a non-negative integer (got "${raw}")`);
  return value;
}

/** 403 unless a site-scoped credential covers the run's site (where it executes, else where its input comes from). */
function assertRunSite(
  principal: Principal | undefined,
  run: { id: string; executedBy?: { site?: string }; origin?: { site: string } },
): void {
  const problem = siteProblem(principal, run.executedBy?.site ?? run.origin?.site, `run ${run.id}`);
  if (problem) throw new YunbianError('FORBIDDEN', problem, { sites: principal?.sites });
}

@ApiTags('workflows')
@Controller()
export class WorkflowsController {
  constructor(
    @Inject(WorkflowRegistry) private readonly registry: WorkflowRegistry,
    @Inject(WorkflowEngine) private readonly engine: WorkflowEngine,
    @Inject(TriggerRunner) private readonly triggers: TriggerRunner,
    @Inject(RemoteRuns) private readonly remote: RemoteRuns,
    @Inject(RunControl) private readonly control: RunControl,
    @Inject(CatalogService) private readonly catalog: CatalogService,
  ) {}

  @Get('schemas/workflow')
  @ApiOperation({ summary: 'The workflow definition language as JSON Schema' })
  @ApiResponse({
    status: 200,
    schema: { type: 'object', description: 'a JSON Schema (draft-07) of a definition: the WorkflowDefinition schema' },
  })
  schema() {
    return WORKFLOW_SCHEMA;
  }

  @Post('workflows')
  @AcceptsBody(JSON_TYPE, ...YAML_TYPES)
  @ApiOperation({ summary: 'Create a workflow (JSON or YAML body); a changed definition becomes a new version' })
  // A YAML body is the same definition (Content-Type application/yaml).
  @ApiBody({ schema: WORKFLOW_SCHEMA as unknown as SchemaObject })
  @ApiResponse({ status: 201, schema: WORKFLOW_RECORD, description: 'stored as a new version' })
  @ApiResponse({ status: 200, schema: WORKFLOW_RECORD, description: 'identical to a stored version' })
  @ApiResponse({
    status: 400,
    schema: ERROR_BODY,
    description: 'invalid: details.issues lists JSON pointers and messages',
  })
  async create(@Body() body: unknown, @Res({ passthrough: true }) response: Response) {
    if (body === undefined) throw new YunbianError('BAD_REQUEST', missingBodyMessage(true));
    const { workflow, created } = await this.registry.create(parseBody(body));
    response.status(created ? 201 : 200);
    return workflow;
  }

  @Post('workflows/validate')
  @HttpCode(200)
  @AcceptsBody(JSON_TYPE, ...YAML_TYPES)
  @ApiOperation({
    summary:
      'Check a definition as POST /workflows would, storing nothing: every problem with its JSON pointer, and its line and column when the body is YAML/JSON text (text/yaml)',
  })
  @ApiBody({ schema: { type: 'object', description: 'a workflow definition, as for POST /workflows' } })
  @ApiResponse({
    status: 200,
    schema: {
      type: 'object',
      required: ['valid', 'issues'],
      properties: {
        valid: { type: 'boolean' },
        issues: {
          type: 'array',
          items: {
            type: 'object',
            required: ['pointer', 'message'],
            properties: {
              pointer: { type: 'string', example: '/steps/0/service' },
              message: { type: 'string' },
              line: { type: 'integer', description: '1-based, in the text sent (text bodies only)' },
              column: { type: 'integer' },
            },
          },
        },
      },
    },
  })
  validate(@Body() body: unknown): { valid: boolean; issues: LocatedIssue[] } {
    // A text body keeps its source, so each problem can be given the line it is on; a syntax
    // error is a problem like the others (an editor shows it in place rather than a 400).
    const source = typeof body === 'string' ? new DefinitionSource(body) : undefined;
    if (source?.tooDeep)
      throw new YunbianError('PAYLOAD_TOO_LARGE', nestingMessage(YAML_MAX_DEPTH), { limit: YAML_MAX_DEPTH });
    const syntax = source?.syntaxError();
    if (syntax) return { valid: false, issues: [{ pointer: '', message: syntax.message, ...syntax.position }] };
    const value = source ? source.value() : body;
    if (valueNestingExceeds(value, YAML_MAX_DEPTH))
      throw new YunbianError('PAYLOAD_TOO_LARGE', nestingMessage(YAML_MAX_DEPTH), { limit: YAML_MAX_DEPTH });
    const issues = locateIssues(source, this.registry.problems(value));
    return { valid: issues.length === 0, issues };
  }

  @Get('workflows')
  @ApiOperation({ summary: 'Latest version of every workflow' })
  @ApiResponse({ status: 200, schema: { type: 'array', items: WORKFLOW_SUMMARY } })
  list() {
    return this.registry.list().map((w) => ({
      name: w.name,
      version: w.version,
      description: w.definition.description,
      createdAt: w.createdAt,
    }));
  }

  @Get('workflows/:name')
  @ApiOperation({ summary: 'Latest version of a workflow, with its triggers and their state' })
  @ApiResponse({ status: 200, schema: WORKFLOW_VIEW })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no such workflow' })
  latest(@Param('name') name: string) {
    const latest = this.registry.get(name);
    return {
      ...latest,
      versions: this.registry.versions(name).map((w) => w.version),
      triggers: this.triggers.statuses(name),
    };
  }

  @Get('workflows/:name/versions/:version')
  @ApiOperation({ summary: 'One version of a workflow' })
  @ApiResponse({ status: 200, schema: WORKFLOW_RECORD })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no such workflow or version' })
  version(@Param('name') name: string, @Param('version') version: string) {
    return this.registry.get(name, positiveInt(version, 'version'));
  }

  @Delete('workflows/:name')
  @ApiOperation({ summary: 'Delete every version (runs keep the definition they started with)' })
  @ApiResponse({ status: 200, schema: WORKFLOW_DELETED })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no such workflow' })
  async remove(@Param('name') name: string) {
    return { name, deletedVersions: await this.registry.delete(name) };
  }

  @Post('workflows/:name/runs')
  @AcceptsBody(JSON_TYPE, ...YAML_TYPES)
  @ApiOperation({
    summary:
      'Start a run: 202 with its id, or the finished run when ?wait=<ms> suffices. It executes on the site engine of the site where every step places, else in the cloud (executedBy says which and why)',
  })
  @ApiQuery({ name: 'wait', required: false, description: 'milliseconds to wait for the result' })
  @ApiQuery({
    name: 'engine',
    required: false,
    enum: [...RUN_ENGINE_CHOICES],
    description: 'which engine executes the run (same as the body field; the body wins)',
  })
  @ApiBody({ schema: RUN_BODY })
  @ApiResponse({ status: 202, schema: RUN_DETAIL, description: 'started' })
  @ApiResponse({ status: 200, schema: RUN_DETAIL, description: 'finished within wait' })
  @ApiResponse({
    status: 400,
    schema: ERROR_BODY,
    description: 'the body is not `{ "input": … }` or the input does not match the workflow input schema',
  })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no such workflow or version' })
  @ApiResponse({ status: 422, schema: ERROR_BODY, description: 'a step cannot be placed where it was asked to run' })
  async run(
    @Param('name') name: string,
    @Body() rawBody: unknown,
    @Query('wait') wait: string | undefined,
    @Res({ passthrough: true }) response: Response,
    @Query('engine') engineQuery?: string,
    @CurrentPrincipal() principal?: Principal,
  ) {
    const body = (parseBody(rawBody) ?? {}) as {
      input?: unknown;
      version?: number;
      durability?: Durability;
      origin?: { nodeId?: string };
      dataTier?: 'public' | 'edge-private' | 'user-private';
      engine?: RunEngineChoice;
    };
    if (typeof body !== 'object' || Array.isArray(body))
      throw new YunbianError('BAD_REQUEST', 'body must be an object: { "input": …, "version"?, "durability"? }');
    const bodyProblem = runBodyProblem(body, name, this.inputSchemaOf(name, body.version));
    if (bodyProblem) throw new YunbianError('BAD_REQUEST', bodyProblem, { accepted: [...RUN_BODY_KEYS] });
    if (body.durability !== undefined && body.durability !== 'durable' && body.durability !== 'none') {
      throw new YunbianError(
        'BAD_REQUEST',
        `durability must be "durable" or "none" (got ${JSON.stringify(body.durability)})`,
        { pointer: '/durability' },
      );
    }
    if (body.dataTier !== undefined && !['public', 'edge-private', 'user-private'].includes(body.dataTier)) {
      throw new YunbianError(
        'BAD_REQUEST',
        `dataTier must be public, edge-private or user-private (got ${JSON.stringify(body.dataTier)})`,
        { pointer: '/dataTier' },
      );
    }
    const engine = body.engine ?? engineQuery;
    if (engine !== undefined && !RUN_ENGINE_CHOICES.includes(engine as RunEngineChoice)) {
      throw new YunbianError(
        'BAD_REQUEST',
        `engine must be ${RUN_ENGINE_CHOICES.join(', ')} (got ${JSON.stringify(engine)})`,
        { pointer: body.engine === undefined ? undefined : '/engine' },
      );
    }
    if (principal?.sites) {
      // A site-scoped credential starts runs whose input comes from a node of its sites.
      const nodeId = body.origin?.nodeId;
      if (typeof nodeId !== 'string')
        throw new YunbianError(
          'FORBIDDEN',
          `your credential is limited to sites ${principal.sites.join(', ')}: give origin.nodeId, a node at one of them`,
          { pointer: '/origin/nodeId', sites: principal.sites },
        );
      const problem = siteProblem(principal, this.catalog.node(nodeId).site, `node ${nodeId}`);
      if (problem) throw new YunbianError('FORBIDDEN', problem, { pointer: '/origin/nodeId', sites: principal.sites });
    }
    const waitMs = Math.min(positiveInt(wait, 'wait') ?? 0, 300_000);
    const started = await this.engine.startRun(name, body.input ?? {}, {
      version: body.version,
      durability: body.durability,
      originNodeId: body.origin?.nodeId,
      dataTier: body.dataTier,
      engine: engine as RunEngineChoice | undefined,
      waitMs,
    });
    // A run forwarded to another engine comes back as that engine's record, already waited for.
    const run = waitMs && this.engine.holds(started.id) ? await this.engine.waitFor(started.id, waitMs) : started;
    response.status(run.status === 'running' ? 202 : 200);
    return runView(run);
  }

  /** The input schema of the version a run would start (undefined when there is none, or no such version: the start says so). */
  private inputSchemaOf(name: string, version: unknown): { required?: unknown } | undefined {
    try {
      return this.registry.get(name, typeof version === 'number' ? version : undefined).definition.input;
    } catch {
      return undefined;
    }
  }

  @Get('runs')
  @ApiOperation({
    summary:
      'Recent runs, newest first: this engine’s, and in the cloud also those site engines and embedded engines execute (read from their run stores)',
  })
  @ApiQuery({ name: 'workflow', required: false })
  @ApiQuery({ name: 'status', required: false, enum: RUN_STATUSES })
  @ApiQuery({ name: 'limit', required: false })
  @ApiResponse({
    status: 200,
    schema: { type: 'array', items: RUN_SUMMARY },
    description: `the runs; header ${UNAVAILABLE_HEADER} names the sites whose runs could not be read now, and why`,
  })
  async runs(
    @Res({ passthrough: true }) response: Response,
    @Query('workflow') workflow?: string,
    @Query('status') status?: string,
    @Query('limit') limit?: string,
  ) {
    if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
      throw new YunbianError('BAD_REQUEST', `status must be one of ${RUN_STATUSES.join(', ')} (got "${status}")`);
    }
    const filter = { workflow, status: status as RunStatus | undefined, limit: positiveInt(limit, 'limit') };
    const listed = await this.remote.list(filter);
    if (listed.unavailable.length > 0) response.setHeader(UNAVAILABLE_HEADER, unavailableHeader(listed.unavailable));
    // Runs this engine holds but left out of `local` by the limit must not come back from a store listing.
    const remote = listed.runs.filter((r) => !this.engine.holds(r.id));
    return mergeRunLists<RunSummary>(this.engine.list(filter), remote, filter).map((r) =>
      runView(r, { detail: false }),
    );
  }

  @Get('runs/:id')
  @ApiOperation({
    summary: 'A run: status, input, output, error, and per step its state, attempts, node, instance, times, placement',
  })
  @ApiResponse({ status: 200, schema: RUN_DETAIL })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no such run' })
  async runById(@Param('id') id: string, @CurrentPrincipal() principal?: Principal) {
    const run = await this.findRun(id);
    assertRunSite(principal, run);
    return runView(run);
  }

  @Get('runs/:id/events')
  @ApiOperation({
    summary:
      "A run's state changes as server-sent events: `event: run` with the run (as GET /runs/{id}) each time its status, a step's status or its attempts change, then `event: end` once it is finished",
  })
  @ApiResponse({
    status: 200,
    description: 'text/event-stream; the stream ends with the run',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no such run' })
  async runEvents(
    @Param('id') id: string,
    @Res() res: Response,
    @CurrentPrincipal() principal?: Principal,
  ): Promise<void> {
    // Errors before the stream starts (unknown run, another site's) are ordinary JSON answers.
    const first = await this.findRun(id);
    assertRunSite(principal, first);
    startEventStream(res);
    let closed = false;
    res.on('close', () => (closed = true));
    let last = '';
    let sequence = 0;
    let quietSince = Date.now();
    let view = runView(first);
    for (;;) {
      const fingerprint = runFingerprint(view);
      if (fingerprint !== last) {
        last = fingerprint;
        quietSince = Date.now();
        res.write(sseEvent('run', view, ++sequence));
      } else if (Date.now() - quietSince >= RUN_EVENTS_KEEPALIVE_MS) {
        quietSince = Date.now();
        res.write(': keep-alive\n\n');
      }
      if (isFinished(view.status)) {
        res.write(sseEvent('end', { id, status: view.status }, ++sequence));
        break;
      }
      await new Promise((r) => setTimeout(r, RUN_EVENTS_POLL_MS));
      if (closed) return;
      try {
        view = runView(await this.findRun(id));
      } catch (err) {
        res.write(sseEvent('error', { message: (err as Error).message }, ++sequence));
        break;
      }
    }
    res.end();
  }

  private async findRun(id: string) {
    try {
      return await this.engine.find(id);
    } catch (err) {
      if (!(err instanceof YunbianError) || err.code !== 'NOT_FOUND') throw err;
      const remote = await this.remote.find(id);
      if (!remote) throw err;
      return remote;
    }
  }

  @Post('runs/:id/cancel')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Cancel a running run, on the engine executing it (a site or embedded engine’s run is forwarded there; 503 naming the engine when it is not live)',
  })
  @ApiResponse({ status: 200, schema: RUN_DETAIL, description: 'the run, cancelled' })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no such run' })
  @ApiResponse({ status: 409, schema: ERROR_BODY, description: 'the run has finished' })
  @ApiResponse({ status: 503, schema: ERROR_BODY, description: 'the engine executing the run is not live' })
  async cancel(@Param('id') id: string, @CurrentPrincipal() principal?: Principal) {
    if (principal?.sites) assertRunSite(principal, await this.findRun(id));
    return runView(await this.control.cancel(id));
  }

  @Post('runs/:id/retry')
  @HttpCode(202)
  @ApiOperation({
    summary:
      'Resume a failed or cancelled run from its failed steps, on the engine that executed it (forwarded like a cancel)',
  })
  @ApiResponse({ status: 202, schema: RUN_DETAIL, description: 'the run, running again' })
  @ApiResponse({ status: 404, schema: ERROR_BODY, description: 'no such run' })
  @ApiResponse({ status: 409, schema: ERROR_BODY, description: 'the run is running or succeeded' })
  @ApiResponse({ status: 503, schema: ERROR_BODY, description: 'the engine executing the run is not live' })
  async retry(@Param('id') id: string, @CurrentPrincipal() principal?: Principal) {
    if (principal?.sites) assertRunSite(principal, await this.findRun(id));
    return runView(await this.control.retry(id));
  }
}
