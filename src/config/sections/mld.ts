/**
 * `mld`: Multicast Listener Discovery (RFC 2710 MLDv1, RFC 3810 MLDv2): the router reports
 * its own groups and, as querier, tracks the listeners on its links. Absent or `enabled:
 * false`: MLD does not run (MLD messages to the router are dropped, `no_listener`).
 * Otherwise it runs on every TAP interface except those marked `ignore`, and on a TUN
 * interface only when listed; per-interface keys fall back to the section's, and those to
 * the RFC 3810 §9 defaults.
 */
import { z } from 'zod';
import type { MldConfig, MldInterfaceConfig, MldVersion } from '../../protocols/mld/config.js';
import { flag, intInRange, interfaceName, listOf, numberInRange } from '../fields.js';
import { defineSection } from '../registry.js';

/** The largest Maximum Response Delay an MLDv2 query can carry (RFC 3810 §5.1.3), in s. */
const MAX_V2_RESPONSE_S = 8387.584;
/** MLDv1's is a 16-bit count of ms (RFC 2710 §3.4). */
const MAX_V1_RESPONSE_S = 65.535;
/** The largest QQIC (RFC 3810 §5.1.9), in s. */
const MAX_QUERY_INTERVAL_S = 31744;

const tunables = {
  version: z.union([z.literal(1), z.literal(2)], { error: '1 or 2' }).optional(),
  querier: flag().optional(),
  // §9.1: QRV is 3 bits and MUST NOT be 0.
  robustness: intInRange(1, 7).optional(),
  queryInterval: intInRange(1, MAX_QUERY_INTERVAL_S, ' seconds').optional(),
  queryResponseInterval: numberInRange(0.001, MAX_V2_RESPONSE_S, ' seconds').optional(),
  lastListenerQueryInterval: numberInRange(0.001, MAX_V2_RESPONSE_S, ' seconds').optional(),
  lastListenerQueryCount: intInRange(1, 255).optional(),
  startupQueryInterval: numberInRange(1, MAX_QUERY_INTERVAL_S, ' seconds').optional(),
  startupQueryCount: intInRange(1, 255).optional(),
  unsolicitedReportInterval: numberInRange(0.001, 3600, ' seconds').optional(),
  maxSources: intInRange(1, 65535).optional(),
};

const interfaceSchema = z.strictObject({ name: interfaceName(), ignore: flag().default(false), ...tunables });

type Tunables = { [K in keyof typeof tunables]?: z.output<(typeof tunables)[K]> };

export const mldSection = defineSection(
  'mld',
  z
    .strictObject({ enabled: flag().default(true), ...tunables, interfaces: listOf(interfaceSchema, 'MLD interface settings').default([]) })
    .superRefine((s, ctx) => {
      const seen = new Map<string, number>();
      s.interfaces.forEach((i, n) => {
        const first = seen.get(i.name);
        if (first === undefined) seen.set(i.name, n);
        else ctx.addIssue({ code: 'custom', path: ['interfaces', n, 'name'], message: `an interface not listed twice (interfaces[${first}] is already "${i.name}")` });
      });
      // The rules between keys hold for what each interface ends up with (its own keys over the section's).
      const check = (i: Tunables, path: (string | number)[]) => {
        const t = resolveTimers(s, i);
        const where = (key: keyof Tunables) => (i[key] !== undefined ? [...path, key] : [key]);
        if (t.queryResponseInterval >= t.queryInterval) {
          ctx.addIssue({ code: 'custom', path: where('queryResponseInterval'), message: `a queryResponseInterval shorter than the queryInterval (${t.queryInterval} s; RFC 3810 §9.3)` });
        }
        if (t.version === 1) {
          for (const key of ['queryResponseInterval', 'lastListenerQueryInterval'] as const) {
            if (t[key] > MAX_V1_RESPONSE_S) ctx.addIssue({ code: 'custom', path: where(key), message: `at most ${MAX_V1_RESPONSE_S} seconds with version 1 (a 16-bit count of ms, RFC 2710 §3.4)` });
          }
        }
      };
      check({}, []);
      s.interfaces.forEach((i, n) => check(i, ['interfaces', n]));
    })
    .optional(),
  {
    summary: 'MLDv1/MLDv2 (RFC 2710, RFC 3810): the router reports its own groups and, as querier, tracks listeners.',
    reload: { kind: 'restart-module', module: 'mld (timers, querier and maxSources apply in place)' },
  },
  (section, ctx) => {
    section?.interfaces.forEach((i, n) => {
      if (!ctx.interfaceNames.has(i.name)) ctx.report(['interfaces', n, 'name'], `the name of a configured interface (${[...ctx.interfaceNames].join(', ')})`);
    });
  },
);

export type MldSection = NonNullable<z.output<typeof mldSection.schema>>;

/** An interface's values: its own keys, else the section's, else the RFC 3810 §9 defaults. */
function resolveTimers(section: Tunables, own: Tunables): Omit<MldInterfaceConfig, 'name'> {
  const pick = <K extends keyof Tunables>(k: K): Tunables[K] => own[k] ?? section[k];
  const version: MldVersion = pick('version') ?? 2;
  const robustness = pick('robustness') ?? 2;
  const queryInterval = pick('queryInterval') ?? 125;
  return {
    version,
    querier: pick('querier') ?? true,
    robustness,
    queryInterval,
    queryResponseInterval: pick('queryResponseInterval') ?? 10,
    lastListenerQueryInterval: pick('lastListenerQueryInterval') ?? 1,
    // §9.9, §9.7: both default to the Robustness Variable.
    lastListenerQueryCount: pick('lastListenerQueryCount') ?? robustness,
    // §9.6: a quarter of the Query Interval.
    startupQueryInterval: pick('startupQueryInterval') ?? queryInterval / 4,
    startupQueryCount: pick('startupQueryCount') ?? robustness,
    // §9.11: 1 s; RFC 2710 §7.10: 10 s for MLDv1.
    unsolicitedReportInterval: pick('unsolicitedReportInterval') ?? (version === 1 ? 10 : 1),
    maxSources: pick('maxSources') ?? 256,
  };
}

/**
 * The module's config: null when MLD is off, else one entry per interface it runs on (every
 * tap interface not ignored, and tun interfaces listed), in the configured order.
 */
export function resolveMldConfig(section: MldSection | undefined, interfaces: ReadonlyArray<{ name: string; kind: 'tap' | 'tun' }>): MldConfig | null {
  if (section === undefined || !section.enabled) return null;
  const out: MldInterfaceConfig[] = [];
  for (const iface of interfaces) {
    const own = section.interfaces.find((i) => i.name === iface.name);
    if (own?.ignore === true || (own === undefined && iface.kind !== 'tap')) continue;
    out.push({ name: iface.name, ...resolveTimers(section, own ?? {}) });
  }
  return { interfaces: out };
}
