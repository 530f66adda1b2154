import { Roles } from '@yunbian/contracts';
import type { SchemaObject } from '../catalog/catalog.schemas';

/** Response shapes of the auth and audit routes (`ApiKeyView`, `Principal`, `AuditEntry` in libs/contracts). */

const ROLE: SchemaObject = { enum: [...Roles] };
const TIME: SchemaObject = { type: 'string', format: 'date-time' };
const SITES: SchemaObject = {
  type: 'array',
  items: { type: 'string' },
  description: 'the sites it is limited to (absent: every site)',
};

export const API_KEY_VIEW: SchemaObject = {
  type: 'object',
  required: ['id', 'name', 'role', 'createdAt', 'createdBy'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    role: ROLE,
    sites: SITES,
    expiresAt: TIME,
    createdAt: TIME,
    createdBy: { type: 'string', description: 'the key id or token subject that created it' },
    bootstrap: { type: 'boolean', description: "the orchestrator's own admin key (YUNBIAN_ADMIN_KEY)" },
  },
};

export const API_KEY_CREATED: SchemaObject = {
  ...API_KEY_VIEW,
  required: [...(API_KEY_VIEW.required as string[]), 'key'],
  properties: {
    ...API_KEY_VIEW.properties,
    key: { type: 'string', description: 'the secret, shown this once', example: 'yb_…' },
  },
};

export const KEY_REVOKED: SchemaObject = {
  type: 'object',
  required: ['id', 'revoked'],
  properties: { id: { type: 'string' }, revoked: { type: 'boolean', enum: [true] } },
};

export const PRINCIPAL: SchemaObject = {
  type: 'object',
  required: ['kind', 'id', 'role'],
  properties: {
    kind: { enum: ['key', 'jwt'] },
    id: { type: 'string', description: 'key id or token subject' },
    name: { type: 'string' },
    role: ROLE,
    sites: SITES,
  },
};

export const AUDIT_ENTRY: SchemaObject = {
  type: 'object',
  required: ['time', 'kind', 'actor', 'action'],
  properties: {
    time: TIME,
    kind: { type: 'string', example: 'http' },
    actor: { type: 'string', description: 'key id, token subject or `anonymous`' },
    actorName: { type: 'string' },
    role: ROLE,
    action: { type: 'string', example: 'POST /workflows' },
    method: { type: 'string' },
    route: { type: 'string', example: '/workflows/:name/runs' },
    path: { type: 'string' },
    params: { type: 'object' },
    status: { type: 'integer' },
    durationMs: { type: 'number' },
    details: { type: 'object' },
    seq: { type: 'integer' },
  },
};
