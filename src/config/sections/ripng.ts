/**
 * `ripng`: RIPng (RFC 2080), with route6d's flags as keys (docs/ripng.md maps each one).
 * Absent or `enabled: false`: RIPng does not run. Otherwise it runs on every configured
 * interface except those marked `ignore` (route6d's behaviour; -N is `ignore: true`), with
 * per-interface settings falling back to the section's.
 */
import { z } from 'zod';
import type { RipngConfig, RipngInterfaceConfig } from '../../protocols/ripng/config.js';
import { absolutePath, flag, intInRange, interfaceName, ipv6NetworkPrefix, listOf, numberInRange } from '../fields.js';
import { defineSection } from '../registry.js';

const splitHorizon = () => z.enum(['none', 'simple', 'poisoned'], { error: 'none, simple or poisoned' });
/** §2.1: metrics are 1..15 for reachable routes, 16 is infinity. */
const metric = () => intInRange(1, 15);
const offset = () => intInRange(0, 15);
const tag = () => intInRange(0, 0xffff);
const prefixes = () => listOf(ipv6NetworkPrefix(), 'IPv6 prefixes like 2001:db8::/32');

const timersSchema = z.strictObject({
  update: numberInRange(0.1, 3600, ' seconds').optional(),
  timeout: numberInRange(0.3, 86_400, ' seconds').optional(),
  garbage: numberInRange(0.2, 86_400, ' seconds').optional(),
});

const interfaceSchema = z.strictObject({
  name: interfaceName(),
  ignore: flag().default(false),
  passive: flag().default(false),
  splitHorizon: splitHorizon().optional(),
  metricIn: metric().default(1),
  offsetOut: offset().default(0),
  timers: timersSchema.prefault({}),
  defaultOnly: flag().default(false),
  accept: prefixes().default([]),
  advertise: prefixes().default([]),
  aggregate: prefixes().default([]),
  demand: flag().default(false),
  retransmit: numberInRange(0.1, 3600, ' seconds').optional(),
  retries: intInRange(1, 1000).optional(),
});

const redistributeSchema = (enabledByDefault: boolean) =>
  z.strictObject({
    enabled: flag().default(enabledByDefault),
    metric: metric().default(1),
    tag: tag().optional(),
    prefixes: prefixes().default([]),
  });

export const ripngSection = defineSection(
  'ripng',
  z
    .strictObject({
      enabled: flag().default(true),
      preference: intInRange(0, 255).default(120),
      splitHorizon: splitHorizon().default('poisoned'),
      receiveOnly: flag().default(false),
      install: flag().default(true),
      tag: tag().default(0),
      ecmp: intInRange(1, 16).default(1),
      routeLog: absolutePath().optional(),
      ageStatic: flag().default(false),
      siteLocal: flag().default(false),
      timers: z
        .strictObject({
          update: numberInRange(0.1, 3600, ' seconds').default(30),
          timeout: numberInRange(0.3, 86_400, ' seconds').default(180),
          garbage: numberInRange(0.2, 86_400, ' seconds').default(120),
        })
        .prefault({}),
      redistribute: z
        .strictObject({
          // route6d advertises its interfaces' prefixes unasked; static routes need -s
          // (split horizon, the default here) or -S (splitHorizon: false).
          connected: redistributeSchema(true).prefault({}),
          static: redistributeSchema(false).extend({ splitHorizon: flag().default(true) }).prefault({}),
        })
        .prefault({}),
      defaultOriginate: z.strictObject({ metric: metric().default(1) }).optional(),
      interfaces: listOf(interfaceSchema, 'RIPng interface settings').default([]),
    })
    .superRefine((s, ctx) => {
      // RFC 2080 §2.3: a route must outlive several missed updates, or it flaps.
      const check = (t: { update?: number | undefined; timeout?: number | undefined }, path: (string | number)[]) => {
        const update = t.update ?? s.timers.update;
        const timeout = t.timeout ?? s.timers.timeout;
        if (timeout <= update) {
          ctx.addIssue({ code: 'custom', path: [...path, 'timeout'], message: `a timeout longer than the update interval (${update} s); RFC 2080 uses 6 times it` });
        }
      };
      check(s.timers, ['timers']);
      s.interfaces.forEach((i, n) => check(i.timers, ['interfaces', n, 'timers']));
      s.interfaces.forEach((i, n) => {
        for (const key of ['retransmit', 'retries'] as const) {
          if (i[key] !== undefined && !i.demand) ctx.addIssue({ code: 'custom', path: ['interfaces', n, key], message: `demand: true on this interface (${key} applies only to RFC 2091 demand circuits)` });
        }
      });
      const seen = new Map<string, number>();
      s.interfaces.forEach((i, n) => {
        const first = seen.get(i.name);
        if (first === undefined) seen.set(i.name, n);
        else ctx.addIssue({ code: 'custom', path: ['interfaces', n, 'name'], message: `an interface not listed twice (interfaces[${first}] is already "${i.name}")` });
      });
    })
    .optional(),
  {
    summary: 'RIPng (RFC 2080) with route6d-compatible options.',
    reload: { kind: 'restart-module', module: 'ripng (preference, install, ecmp and routeLog apply in place)' },
  },
  (section, ctx) => {
    section?.interfaces.forEach((i, n) => {
      if (!ctx.interfaceNames.has(i.name)) {
        ctx.report(['interfaces', n, 'name'], `the name of a configured interface (${[...ctx.interfaceNames].join(', ')})`);
      }
    });
  },
);

export type RipngSection = NonNullable<z.output<typeof ripngSection.schema>>;

/**
 * The module's config from the section and the configured interface names, in their order:
 * null when RIPng is off, else one resolved entry per interface it runs on.
 */
export function resolveRipngConfig(section: RipngSection | undefined, interfaceNames: readonly string[]): RipngConfig | null {
  if (section === undefined || !section.enabled) return null;
  const interfaces: RipngInterfaceConfig[] = [];
  for (const name of interfaceNames) {
    const o = section.interfaces.find((i) => i.name === name);
    if (o?.ignore) continue;
    interfaces.push({
      name,
      passive: o?.passive ?? false,
      splitHorizon: o?.splitHorizon ?? section.splitHorizon,
      metricIn: o?.metricIn ?? 1,
      offsetOut: o?.offsetOut ?? 0,
      timers: {
        update: o?.timers.update ?? section.timers.update,
        timeout: o?.timers.timeout ?? section.timers.timeout,
        garbage: o?.timers.garbage ?? section.timers.garbage,
      },
      defaultOnly: o?.defaultOnly ?? false,
      accept: o?.accept ?? [],
      advertise: o?.advertise ?? [],
      aggregate: o?.aggregate ?? [],
      // RFC 2091 leaves both to the implementation: 5 s and 10 tries ride out a lost
      // packet or two and declare a dead neighbour within a minute.
      demand: o?.demand ? { retransmit: o.retransmit ?? 5, retries: o.retries ?? 10 } : null,
    });
  }
  const { connected, static: stat } = section.redistribute;
  return {
    preference: section.preference,
    receiveOnly: section.receiveOnly,
    install: section.install,
    tag: section.tag,
    ecmp: section.ecmp,
    routeLog: section.routeLog ?? null,
    ageStatic: section.ageStatic,
    siteLocal: section.siteLocal,
    redistribute: {
      connected: { enabled: connected.enabled, metric: connected.metric, tag: connected.tag ?? section.tag, prefixes: connected.prefixes },
      static: { enabled: stat.enabled, metric: stat.metric, tag: stat.tag ?? section.tag, prefixes: stat.prefixes, splitHorizon: stat.splitHorizon },
    },
    defaultOriginate: section.defaultOriginate ?? null,
    interfaces,
  };
}
