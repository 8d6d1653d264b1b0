/** `routes`: static routes. They enter the RIB with origin "static"; the best route per prefix goes to the FIB. */
import { z } from 'zod';
import { isLinkLocal, parseIpv6 } from '../../lib/addr.js';
import { flag, intInRange, interfaceName, ipv6NetworkPrefix, ipv6UnicastAddress, listOf } from '../fields.js';
import { defineSection } from '../registry.js';

/** RFC 4007 §6: a link-local address names a node only together with its link. */
const LINK_LOCAL_NEEDS_INTERFACE = 'a global address, or a link-local one with `interface` beside it (RFC 4007 §6)';

/** The RIB keeps at most this many next hops per route (stack/rib.ts, ECMP groups). */
export const MAX_STATIC_NEXTHOPS = 8;

/** One member of an ECMP static route: a gateway, with its port when it is link-local. */
const nexthopSchema = z
  .strictObject({
    via: ipv6UnicastAddress(),
    interface: interfaceName().optional(),
  })
  .superRefine((n, ctx) => {
    const via = parseIpv6(n.via);
    if (via !== null && n.interface === undefined && isLinkLocal(via)) ctx.addIssue({ code: 'custom', path: ['via'], message: LINK_LOCAL_NEEDS_INTERFACE });
  })
  .transform((n) => ({ via: n.via, interface: n.interface ?? null }));

const routeSchema = z
  .strictObject({
    prefix: ipv6NetworkPrefix(),
    via: ipv6UnicastAddress().optional(),
    interface: interfaceName().optional(),
    nexthops: listOf(nexthopSchema, "next hops (via alone for one)", 2).max(MAX_STATIC_NEXTHOPS, { error: `2 to ${MAX_STATIC_NEXTHOPS} next hops (ECMP groups hold at most ${MAX_STATIC_NEXTHOPS})` }).optional(),
    reject: flag().default(false),
    blackhole: flag().default(false),
    preference: intInRange(0, 255).default(10),
  })
  .superRefine((r, ctx) => {
    if (r.nexthops !== undefined && (r.via !== undefined || r.interface !== undefined || r.reject || r.blackhole)) {
      ctx.addIssue({ code: 'custom', path: ['nexthops'], message: 'nexthops, or one of via/interface, reject, blackhole: not both' });
      return;
    }
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
    if (!r.reject && !r.blackhole && r.via === undefined && r.interface === undefined && r.nexthops === undefined) {
      ctx.addIssue({ code: 'custom', path: ['via'], message: 'a next hop: via, interface, reject: true or blackhole: true' });
    }
    const via = typeof r.via === 'string' ? parseIpv6(r.via) : null;
    if (via !== null && r.interface === undefined && isLinkLocal(via)) {
      ctx.addIssue({ code: 'custom', path: ['via'], message: LINK_LOCAL_NEEDS_INTERFACE });
    }
  })
  .transform((r) => ({
    prefix: r.prefix,
    // Every next hop of the route: one, or an ECMP group from `nexthops`; none for reject/blackhole.
    nexthops: r.nexthops ?? (r.reject || r.blackhole ? [] : [{ via: r.via ?? null, interface: r.interface ?? null }]),
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
      r.nexthops.forEach((n, k) => {
        if (n.interface === null || ctx.interfaceNames.has(n.interface)) return;
        const path = r.nexthops.length > 1 ? [i, 'nexthops', k, 'interface'] : [i, 'interface'];
        ctx.report(path, `the name of a configured interface (${[...ctx.interfaceNames].join(', ')})`);
      });
    });
  },
);
