import { readdirSync } from 'node:fs';
import path from 'node:path';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { accessFor, expressPattern, ROUTE_ACCESS, routeKey } from './route-roles';

const SRC = path.resolve(__dirname, '..');

function controllerFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? controllerFiles(path.join(dir, e.name))
      : e.name.endsWith('.controller.ts')
        ? [path.join(dir, e.name)]
        : [],
  );
}

/** Every route the orchestrator's controllers declare — what the OpenAPI document lists — as `METHOD /pattern`. */
async function declaredRoutes(): Promise<string[]> {
  const routes: string[] = [];
  for (const file of controllerFiles(SRC)) {
    for (const exported of Object.values((await import(file)) as Record<string, unknown>)) {
      if (typeof exported !== 'function') continue;
      const base = Reflect.getMetadata(PATH_METADATA, exported) as string | undefined;
      if (base === undefined) continue;
      const proto = (exported as { prototype: Record<string, unknown> }).prototype;
      for (const name of Object.getOwnPropertyNames(proto)) {
        const handler = proto[name];
        if (typeof handler !== 'function') continue;
        const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
        const sub = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        if (method === undefined || sub === undefined) continue;
        const pattern = `/${[base, sub].filter((p) => p && p !== '/').join('/')}`.replace(/\/+/g, '/');
        routes.push(routeKey(RequestMethod[method], pattern));
      }
    }
  }
  return routes;
}

describe('route roles', () => {
  jest.setTimeout(60_000);

  it('declares the access of every route the controllers serve (so none is left to the admin fallback by mistake)', async () => {
    const routes = await declaredRoutes();
    expect(routes.length).toBeGreaterThan(50);
    expect(routes.filter((r) => !(r in ROUTE_ACCESS))).toEqual([]);
    // And nothing in the table is a route that no longer exists.
    expect(Object.keys(ROUTE_ACCESS).filter((r) => !routes.includes(r))).toEqual([]);
  });

  it('fails closed: an undeclared route needs admin', () => {
    expect(accessFor('POST', '/something/new')).toBe('admin');
    expect(accessFor('GET', undefined)).toBe('admin');
  });

  it('leaves health open, reads to viewers, runs and instances to operators, keys and definitions to admins', () => {
    expect(accessFor('GET', '/health/ready')).toBe('open');
    expect(accessFor('GET', '/runs/:id')).toBe('viewer');
    expect(accessFor('post', '/workflows/:name/runs')).toBe('operator');
    expect(accessFor('DELETE', '/instances/:id')).toBe('operator');
    expect(accessFor('POST', '/workflows')).toBe('admin');
    expect(accessFor('POST', '/auth/keys')).toBe('admin');
    expect(accessFor('GET', '/audit')).toBe('admin');
    // Every GET is at most viewer except the keys and the audit log.
    const gets = Object.entries(ROUTE_ACCESS).filter(
      ([r, a]) => r.startsWith('GET ') && a !== 'viewer' && a !== 'open',
    );
    expect(gets.map(([r]) => r).sort()).toEqual(['GET /audit', 'GET /auth/keys']);
  });

  it('maps OpenAPI paths to route patterns', () => {
    expect(expressPattern('/models/{name}/versions/{version}')).toBe('/models/:name/versions/:version');
  });
});
