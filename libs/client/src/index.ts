export * from './client';
export * from './definitions';
export type { RunRecord, RunStatus, Durability, WorkflowDefinition } from '@yunbian/workflow';
