/** The placement seam is one of the engine's ports (libs/engine); Nest provides it under this token. */
export type { RouteCandidate, RouteDecision, RouteRequest, StepRouter } from '@yunbian/engine';

export const STEP_ROUTER = Symbol('STEP_ROUTER');
