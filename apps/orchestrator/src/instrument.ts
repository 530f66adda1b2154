// Imported first by main.ts: OpenTelemetry must start before Nest and its dependencies load.
import { instrument } from '@yunbian/observability';

instrument('yunbian-orchestrator', { 'yunbian.tier': 'cloud' });
