import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Principal } from '@yunbian/contracts';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth/auth.guard';
import { sseEvent, startEventStream } from '../workflows/run-events';
import { CATALOG_EVENTS_FLUSH_MS, CATALOG_EVENTS_KEEPALIVE_MS, ChangeBatch } from './catalog-events';
import { CatalogService, type CatalogChange } from './catalog.service';

@ApiTags('catalog')
@ApiBearerAuth()
@Controller()
export class CatalogEventsController {
  constructor(@Inject(CatalogService) private readonly catalog: CatalogService) {}

  @Get('events')
  @ApiOperation({
    summary:
      'Catalogue changes as server-sent events: `event: node` / `event: instance` with the record as GET /nodes/{id} / GET /instances/{id} show it (at most every 0.5 s per record), `event: removed` { kind, id }; a key limited to sites sees only theirs',
  })
  @ApiResponse({
    status: 200,
    description: 'text/event-stream, open until the client closes it',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  })
  events(@Res() res: Response, @CurrentPrincipal() principal?: Principal): void {
    startEventStream(res);
    let sequence = 0;
    res.write(sseEvent('hello', { time: new Date().toISOString() }, ++sequence));
    const batch = new ChangeBatch();
    const unsubscribe = this.catalog.onChange((change) => batch.add(change));
    let lastWrite = Date.now();
    const timer = setInterval(() => {
      for (const change of batch.take()) {
        const event = this.eventOf(change, principal);
        if (!event) continue;
        res.write(sseEvent(event.name, event.data, ++sequence));
        lastWrite = Date.now();
      }
      if (Date.now() - lastWrite >= CATALOG_EVENTS_KEEPALIVE_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
    }, CATALOG_EVENTS_FLUSH_MS);
    res.on('close', () => {
      clearInterval(timer);
      unsubscribe();
    });
  }

  /** The event for a change as its record now is; undefined when the caller may not see it. */
  private eventOf(change: CatalogChange, principal?: Principal): { name: string; data: unknown } | undefined {
    const visible = (site: string | undefined) =>
      !principal?.sites?.length || (site !== undefined && principal.sites.includes(site));
    const siteOfNode = (id: string) => {
      try {
        return this.catalog.node(id).site;
      } catch {
        return undefined;
      }
    };
    if (change.removed) {
      // A gone record's site is no longer known: removals go to callers not limited to sites
      // (a site-limited console sees the node or instance go on its next read).
      if (principal?.sites?.length) return undefined;
      return { name: 'removed', data: { kind: change.kind, id: change.id } };
    }
    try {
      if (change.kind === 'node') {
        const node = this.catalog.node(change.id);
        return visible(node.site) ? { name: 'node', data: node } : undefined;
      }
      if (change.kind === 'instance') {
        const instance = this.catalog.instance(change.id);
        return visible(siteOfNode(instance.nodeId)) ? { name: 'instance', data: instance } : undefined;
      }
      return { name: 'service', data: { ref: change.id } };
    } catch {
      return undefined; // gone meanwhile: its removal follows
    }
  }
}
