import { ROUTE_ACCESS } from '../auth/route-roles';
import { OPENAPI_COMPONENTS } from './openapi-components';
import { documentProblems, finishDocument, OPERATION_IDS, type OpenApiDocument } from './openapi';

const NODE = { type: 'object', properties: { id: { type: 'string' } } };
const ERROR = { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } };
const components = { ErrorResponse: ERROR, Node: NODE };

/** A document as @nestjs/swagger builds it: inline schemas, controller-derived ids, bare error answers. */
function built(): OpenApiDocument {
  return {
    openapi: '3.0.0',
    info: { title: 't', version: '1' },
    paths: {
      '/nodes': {
        get: {
          operationId: 'CatalogController_nodes',
          responses: {
            '200': {
              description: '',
              content: { 'application/json': { schema: { type: 'array', items: structuredClone(NODE) } } },
            },
          },
        },
      },
      '/nodes/{id}': {
        delete: {
          operationId: 'CatalogController_removeNode',
          responses: {
            '200': { description: '', content: { 'application/json': { schema: structuredClone(NODE) } } },
            '404': { description: '', content: { 'application/octet-stream': { schema: structuredClone(ERROR) } } },
          },
        },
      },
      '/health/live': {
        get: {
          operationId: 'HealthController_live',
          parameters: [{ name: 'verbose', in: 'query', schema: {} }],
          responses: { '200': { description: '', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
    },
  };
}

describe('finishDocument', () => {
  const doc = finishDocument(built(), { components });

  it('names schemas equal to a component with a $ref, at any depth, and lists the components', () => {
    expect(doc.paths['/nodes'].get.responses!['200'].content!['application/json'].schema).toEqual({
      type: 'array',
      items: { $ref: '#/components/schemas/Node' },
    });
    expect(doc.components?.schemas).toMatchObject(components);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('gives routes their stable operationIds from the table', () => {
    expect(doc.paths['/nodes'].get.operationId).toBe('listNodes');
    expect(doc.paths['/nodes/{id}'].delete.operationId).toBe('removeNode');
  });

  it('answers every error with an ErrorResponse in JSON, and documents 401/403/429 on authenticated routes only', () => {
    const remove = doc.paths['/nodes/{id}'].delete.responses!;
    expect(Object.keys(remove)).toEqual(['200', '401', '403', '404', '429']);
    expect(remove['404'].content).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/ErrorResponse' } },
    });
    expect(remove['401'].description).toMatch(/Authorization: Bearer/);
    expect(doc.paths['/nodes/{id}'].delete.security).toEqual([{ bearer: [] }]);
    const live = doc.paths['/health/live'].get;
    expect(Object.keys(live.responses!)).toEqual(['200']);
    expect(live.security).toEqual([]);
    expect((live.parameters as { schema: unknown }[])[0].schema).toEqual({ type: 'string' });
  });

  it('offers the JSON body of a route that reads YAML as application/yaml too', () => {
    const withBody = built();
    withBody.paths['/nodes'].get.requestBody = { content: { 'application/json': { schema: structuredClone(NODE) } } };
    const body = finishDocument(withBody, { components, yamlRoutes: ['GET /nodes'] }).paths['/nodes'].get.requestBody;
    expect(body?.content).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/Node' } },
      'application/yaml': { schema: { $ref: '#/components/schemas/Node' } },
    });
    expect(Object.keys(doc.paths['/nodes/{id}'].delete.requestBody?.content ?? {})).toEqual([]);
  });

  it('leaves the document it was given as it was', () => {
    const original = built();
    finishDocument(original, { components });
    expect(original).toEqual(built());
  });

  it('refuses components without the ErrorResponse every error points at', () => {
    expect(() => finishDocument(built(), { components: { Node: NODE } })).toThrow(/ErrorResponse/);
  });
});

describe('documentProblems', () => {
  it('finds nothing in a finished document', () => {
    expect(documentProblems(finishDocument(built(), { components }))).toEqual([]);
  });

  it('names each operation without a camelCase unique id, without a success schema, or with a bare error', () => {
    const doc = finishDocument(built(), { components });
    doc.paths['/nodes'].get.operationId = 'CatalogController_nodes';
    doc.paths['/nodes/{id}'].delete.operationId = 'getLiveness';
    delete doc.paths['/health/live'].get.responses!['200'].content;
    doc.paths['/nodes/{id}'].delete.responses!['404'] = { description: 'gone' };
    delete doc.paths['/nodes/{id}'].delete.responses!['429'];
    doc.components!.schemas = { ErrorResponse: ERROR };
    expect(documentProblems(doc)).toEqual([
      'GET /nodes: operationId "CatalogController_nodes" is not camelCase',
      'DELETE /nodes/{id}: answer 404 is not an ErrorResponse',
      'DELETE /nodes/{id}: an authenticated route without answer 429',
      "GET /health/live: operationId getLiveness is also DELETE /nodes/{id}'s",
      'GET /health/live: no success answer with a schema',
      '$ref #/components/schemas/Node does not resolve',
    ]);
  });
});

describe('OPERATION_IDS', () => {
  it('names every route, camelCase and each once', () => {
    expect(Object.keys(ROUTE_ACCESS).filter((route) => !OPERATION_IDS[route])).toEqual([]);
    const ids = Object.values(OPERATION_IDS);
    expect(ids.filter((id) => !/^[a-z][A-Za-z0-9]*$/.test(id))).toEqual([]);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });
});

describe('OPENAPI_COMPONENTS', () => {
  it('are distinct schemas (two equal ones would make every $ref to them ambiguous)', () => {
    const texts = Object.values(OPENAPI_COMPONENTS).map((s) => JSON.stringify(s));
    expect(texts.filter((t, i) => texts.indexOf(t) !== i)).toEqual([]);
  });
});
