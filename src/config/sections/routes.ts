/** `routes`: static routes. They enter the RIB with origin "static"; the best route per prefix goes to the FIB. */
import { z } from 'zod';
import { isLinkLocal, parseIpv6 } from '../../lib/addr.js';
import { flag, intInRange, interfaceName, ipv6NetworkPrefix, ipv6UnicastAddress, listOf } from '../fields.js';
import { defineSection } from '../registry.js';

const routeSchema = z
  .strictObject({
    prefix: ipv6NetworkPrefix(),
    via: ipv6UnicastAddress().optional(),
    interface: interfaceName().optional(),
    reject: flag().default(false),
    blackhole: flag().default(false),
    preference: intInRange(0, 255).default(10),
  })
  .superRefine((r, ctx) => {
    if (r.reject && r.blackhole) {
      ctx.addIssue({ code: 'custom', path: ['blackhole'], message: 'reject or blackhole, not both' });
    }
    if ((r.reject || r.blackhole) && (r.via !== undefined || r.interface !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [r.via !== undefined ? 'via' : 'interface'],
        message: `no next hop on a ${r.reject ? 'reject' : 'blackhole'} route (it never leaves the router)`,
      });
    }
    if (!r.reject && !r.blackhole && r.via === undefined && r.interface === undefined) {
      ctx.addIssue({ code: 'custom', path: ['via'], message: 'a next hop: via, interface, reject: true or blackhole: true' });
    }
    // RFC 4007 §6: a link-local address names a node only together with its link.
    const via = typeof r.via === 'string' ? parseIpv6(r.via) : null;
    if (via !== null && r.interface === undefined && isLinkLocal(via)) {
      ctx.addIssue({ code: 'custom', path: ['via'], message: 'a global address, or a link-local one with `interface` beside it (RFC 4007 §6)' });
    }
  })
  .transform((r) => ({
    prefix: r.prefix,
    via: r.via ?? null,
    interface: r.interface ?? null,
    reject: r.reject,
    blackhole: r.blackhole,
    preference: r.preference,
  }));

export type RouteConfig = z.output<typeof routeSchema>;

export const routesSection = defineSection(
  'routes',
  listOf(routeSchema, 'routes')
    .superRefine((routes, ctx) => {
      if (ctx.issues.length > 0) return;
      const seen = new Map<string, number>();
      routes.forEach((r, i) => {
        const first = seen.get(r.prefix);
        if (first === undefined) seen.set(r.prefix, i);
        else ctx.addIssue({ code: 'custom', path: [i, 'prefix'], message: `a prefix without another static route (routes[${first}] has ${r.prefix})` });
      });
    })
    .default([]),
  { summary: 'Static routes.', reload: { kind: 'in-place' } },
  (routes, ctx) => {
    routes.forEach((r, i) => {
      if (r.interface !== null && !ctx.interfaceNames.has(r.interface)) {
        ctx.report([i, 'interface'], `the name of a configured interface (${[...ctx.interfaceNames].join(', ')})`);
      }
    });
  },
);
