/**
 * `multicast`: static multicast forwarding entries, written the way smcroute's
 * `mroute from IF source S group G to IF ...` and pim6sd's static entries are. Each becomes an
 * MFC entry in the lanes (shm/mfc.ts): (S,G) with `source`, (*,G) without. The incoming port
 * is named (`in`), or for an (S,G) entry taken from the unicast route toward the source
 * (`rpf: true`), as PIM will.
 */
import { z } from 'zod';
import { isLinkLocal, isUnspecified, multicastScope, parseIpv6 } from '../../lib/addr.js';
import { MFC_MAX_ENTRIES } from '../../shm/mfc.js';
import { flag, interfaceName, ipv6Address, ipv6UnicastAddress, listOf } from '../fields.js';
import { defineSection } from '../registry.js';

/** RFC 4291 §2.7: 1 interface-local and 2 link-local never leave their link; 0 and f are reserved. */
const GROUP_EXPECTED = 'a multicast group of scope wider than link-local, ff03::/16 to ff0e::/16 (like ff0e::db8:1)';

function forwardableGroup(): z.ZodType<string, string> {
  return ipv6Address().refine(
    (s) => {
      const a = parseIpv6(s)!;
      return a[0] === 0xff && multicastScope(a) >= 3 && multicastScope(a) <= 0xe;
    },
    { error: GROUP_EXPECTED },
  );
}

const routeSchema = z
  .strictObject({
    source: ipv6UnicastAddress()
      .refine((s) => !isUnspecified(parseIpv6(s)!) && !isLinkLocal(parseIpv6(s)!), {
        error: 'a source that may be forwarded: not :: and not link-local (RFC 4007 §9); leave it out for a (*,G) entry',
      })
      .optional(),
    group: forwardableGroup(),
    in: interfaceName().optional(),
    // RPF (RFC 7761 §4.1's RPF'(S), pim6sd's static entries): the incoming interface is the
    // one the unicast route toward the source leaves by, followed as routes change.
    rpf: flag().default(false),
    out: listOf(interfaceName(), 'outgoing interfaces', 1),
  })
  .superRefine((r, ctx) => {
    if (r.rpf && r.in !== undefined) ctx.addIssue({ code: 'custom', path: ['in'], message: 'in or rpf: true, not both' });
    else if (!r.rpf && r.in === undefined) ctx.addIssue({ code: 'custom', path: ['in'], message: 'the incoming interface (in), or rpf: true to take it from the unicast route toward the source' });
    if (r.rpf && r.source === undefined) ctx.addIssue({ code: 'custom', path: ['rpf'], message: 'a source beside rpf: true (RPF looks up the route toward it; a (*,G) entry names its in)' });
    const seen = new Set<string>();
    r.out.forEach((name, i) => {
      if (name === r.in) ctx.addIssue({ code: 'custom', path: ['out', i], message: `an interface other than the incoming one (${r.in}): a packet never goes back where it came from` });
      else if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['out', i], message: `each interface once (${name} is listed before)` });
      seen.add(name);
    });
  })
  // `in` null: RPF.
  .transform((r) => ({ source: r.source ?? null, group: r.group, in: r.in ?? null, out: r.out }));

export type MulticastRouteConfig = z.output<typeof routeSchema>;

export const multicastSection = defineSection(
  'multicast',
  z
    .strictObject({
      routes: listOf(routeSchema, 'multicast routes')
        .max(MFC_MAX_ENTRIES, { error: `at most ${MFC_MAX_ENTRIES} multicast routes (the lanes' MFC size)` })
        .superRefine((routes, ctx) => {
          if (ctx.issues.length > 0) return;
          const seen = new Map<string, number>();
          routes.forEach((r, i) => {
            const key = `${r.source ?? '*'} ${r.group}`;
            const first = seen.get(key);
            if (first === undefined) seen.set(key, i);
            else ctx.addIssue({ code: 'custom', path: [i, 'group'], message: `one route per (source, group) (routes[${first}] has ${r.source ?? '*'}, ${r.group})` });
          });
        })
        .default([]),
    })
    .optional(),
  { summary: 'Static multicast forwarding entries (smcroute-style (S,G) and (*,G) routes).', reload: { kind: 'in-place' } },
  (multicast, ctx) => {
    multicast?.routes.forEach((r, i) => {
      const names = [...ctx.interfaceNames].join(', ');
      if (r.in !== null && !ctx.interfaceNames.has(r.in)) ctx.report(['routes', i, 'in'], `the name of a configured interface (${names})`);
      r.out.forEach((name, k) => {
        if (!ctx.interfaceNames.has(name)) ctx.report(['routes', i, 'out', k], `the name of a configured interface (${names})`);
      });
    });
  },
);

export type MulticastConfig = NonNullable<z.output<typeof multicastSection.schema>>;
