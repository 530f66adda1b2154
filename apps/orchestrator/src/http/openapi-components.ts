import { WORKFLOW_SCHEMA } from '@yunbian/workflow';
import { API_KEY_REQUEST_SCHEMA } from '../auth/api-key';
import { API_KEY_CREATED, API_KEY_VIEW, AUDIT_ENTRY, KEY_REVOKED, PRINCIPAL } from '../auth/auth.schemas';
import {
  CATALOG_STATS,
  ERROR_BODY,
  INSTANCE_RECORD,
  NODE_RECORD,
  SERVICE_RECORD,
  SERVICE_VERSIONS,
  START_INSTANCE_BODY,
} from '../catalog/catalog.schemas';
import { DATASET } from '../datasets/datasets.controller';
import { DEPLOYMENT_ACTION, DEPLOYMENT_CHANGE, DEPLOYMENT_VIEW } from '../deployments/deployments.schemas';
import { DURABILITY_REPORT } from '../health/health.schemas';
import { JOB } from '../models/compression.controller';
import { MODEL_ALIAS, MODEL_ALIAS_SPEC, MODEL_DELETED, MODEL_META, MODEL_VERSIONS } from '../models/models.schemas';
import { SPLIT_PLAN } from '../models/split.schemas';
import { NETWORK_VIEW } from '../placement/network.controller';
import { PLACEMENT_PLAN, PLAN_APPLIED } from '../placement/placements.controller';
import { LIVE_ENGINE } from '../workflows/engines.controller';
import { TRIGGER_STATUS, WORKFLOW_VIEW } from '../workflows/triggers/trigger.schemas';
import {
  FAILURE,
  RUN_DETAIL,
  RUN_SUMMARY,
  WORKFLOW_DELETED,
  WORKFLOW_RECORD,
  WORKFLOW_SUMMARY,
} from '../workflows/workflows.schemas';
import { ERROR_SCHEMA_NAME } from './openapi';

/**
 * The named schemas of the OpenAPI document: every resource and the error, by the name a
 * generated client gives its type. The schemas are the ones the controllers and validators
 * use (libs/contracts, libs/workflow and the `*.schemas.ts` files); `finishDocument` turns each
 * schema in the document equal to one of these into a `$ref`.
 */
export const OPENAPI_COMPONENTS: Readonly<Record<string, unknown>> = {
  [ERROR_SCHEMA_NAME]: ERROR_BODY,
  Failure: FAILURE,
  Node: NODE_RECORD,
  Service: SERVICE_RECORD,
  ServiceVersions: SERVICE_VERSIONS,
  Instance: INSTANCE_RECORD,
  StartInstanceRequest: START_INSTANCE_BODY,
  CatalogStats: CATALOG_STATS,
  Network: NETWORK_VIEW,
  Deployment: DEPLOYMENT_VIEW,
  DeploymentChange: DEPLOYMENT_CHANGE,
  DeploymentAction: DEPLOYMENT_ACTION,
  PlacementPlan: PLACEMENT_PLAN,
  PlacementApplied: PLAN_APPLIED,
  WorkflowDefinition: WORKFLOW_SCHEMA,
  Workflow: WORKFLOW_RECORD,
  WorkflowView: WORKFLOW_VIEW,
  WorkflowSummary: WORKFLOW_SUMMARY,
  WorkflowDeleted: WORKFLOW_DELETED,
  TriggerStatus: TRIGGER_STATUS,
  Run: RUN_DETAIL,
  RunSummary: RUN_SUMMARY,
  Engine: LIVE_ENGINE,
  Model: MODEL_META,
  ModelVersions: MODEL_VERSIONS,
  ModelDeleted: MODEL_DELETED,
  ModelAlias: MODEL_ALIAS,
  ModelAliasSpec: MODEL_ALIAS_SPEC,
  SplitPlan: SPLIT_PLAN,
  CompressionJob: JOB,
  Dataset: DATASET,
  ApiKeyRequest: API_KEY_REQUEST_SCHEMA,
  ApiKey: API_KEY_VIEW,
  ApiKeyCreated: API_KEY_CREATED,
  ApiKeyRevoked: KEY_REVOKED,
  Principal: PRINCIPAL,
  AuditEntry: AUDIT_ENTRY,
  Durability: DURABILITY_REPORT,
};
