/**
 * What a reload can change on a running router, module by module (FRR's transaction: each
 * participant validates and prepares, then all apply, or all abort and the running config
 * stays). In place: addresses, MTU, router advertisements, static routes, log level, the
 * metrics listener. Everything that would need the ports reopened or the lanes rebuilt
 * (an interface added, removed or changed in kind/mac/netns/attach; the dataplane section;
 * the control socket; stateDir) is refused with the reason, and the running config stays.
 */
import { isDeepStrictEqual } from 'node:util';
import { formatIpv6, isLinkLocal, parseIpv6, parseMac, parsePrefix, prefixMatch } from '../lib/addr.js';
import type { Config, InterfaceConfig } from '../config/schema.js';
import { ConfigRejected, type PreparedChange, type ReloadParticipant } from '../config/reload.js';
import type { Stack, StackInterfaceConfig } from '../stack/stack.js';
import type { RaConfig as StackRaConfig } from '../stack/ra.js';
import type { RibRoute } from '../stack/rib.js';
import type { Logger } from '../observability/log.js';
import { setMtu } from '../io/tuntap.js';
import { PUNT_CLASSES, type PuntPolicing } from '../dataplane/punt-policer.js';

export interface ReloadTarget {
  readonly stack: Stack;
  /** Sets the per-kind log rate limit in place. */
  setLogRate(ratePerKind: number): void;
  /** Sets the lanes' ICMPv6 error rate limit in place. */
  setIcmpLimits(rate: number, burst: number): void;
  /** Sets the lanes' control-plane policing in place. */
  setPuntPolicing(policing: PuntPolicing): void;
  readonly root: Logger;
  /** The kernel-side device name of each configured port, by interface name. */
  deviceOf(name: string): string;
  /** The largest MTU the lanes' pool slots hold (fixed at start). */
  readonly largestMtu: number;
  /** Replaces the metrics listener ("" turns it off); resolves once the new one is bound. */
  restartMetrics(listen: string): Promise<void>;
}

/** The stack's view of one configured interface. */
export function stackInterface(iface: InterfaceConfig, port: number): StackInterfaceConfig {
  const addresses = iface.addresses
    .map((a) => {
      const [text, len] = a.split('/');
      return { addr: parseIpv6(text!)!, prefixLen: Number(len) };
    })
    // The link-local address is the interface's own (RFC 4291 §2.5.6), made by the stack.
    .filter((a) => !isLinkLocal(a.addr));
  return {
    name: iface.name,
    port,
    kind: iface.kind,
    mac: iface.mac === null ? null : parseMac(iface.mac)!,
    mtu: iface.mtu,
    addresses,
    ra: iface.ra.enabled ? stackRaConfig(iface.ra) : null,
    acceptRa: iface.ra.accept,
    redirects: iface.redirects,
  };
}

function stackRaConfig(ra: InterfaceConfig['ra']): StackRaConfig {
  return {
    enabled: true,
    maxInterval: ra.maxInterval,
    minInterval: ra.minInterval,
    defaultLifetime: ra.defaultLifetime,
    hopLimit: ra.hopLimit,
    managed: ra.managed,
    other: ra.other,
    mtu: ra.mtu,
    reachableTime: ra.reachableTime,
    retransTimer: ra.retransTimer,
    prefixes: ra.prefixes.map((p) => {
      const prefix = parsePrefix(p.prefix)!;
      return {
        prefix: prefix.addr,
        prefixLen: prefix.len,
        onLink: p.onLink,
        autonomous: p.autonomous,
        validLifetime: p.validLifetime,
        preferredLifetime: p.preferredLifetime,
      };
    }),
    preference: ra.preference,
    routes: ra.routes.map((r) => {
      const prefix = parsePrefix(r.prefix)!;
      return { prefix: prefix.addr, prefixLen: prefix.len, lifetime: r.lifetime, preference: r.preference };
    }),
    ...(ra.rdnss ? { rdnss: { servers: ra.rdnss.servers.map((s) => parseIpv6(s)!), lifetime: ra.rdnss.lifetime } } : {}),
    ...(ra.dnssl ? { dnssl: { domains: ra.dnssl.domains, lifetime: ra.dnssl.lifetime } } : {}),
  };
}

/**
 * The static routes of a config, as RIB routes, one at a time: the appliance streams a full
 * table into the RIB, so that each route's parse garbage dies young instead of 100,000 of
 * them at once pushing V8's old space up for good. A global next hop without an interface is
 * reached on the port whose configured prefix holds it (it must be on-link: no recursion).
 */
export function* staticRoutes(config: Config): Generator<RibRoute> {
  const onLink = config.interfaces.map((i) => i.addresses.map((a) => parsePrefix(a)!).filter((p) => p.len < 128));
  for (const r of config.routes) {
    const prefix = parsePrefix(r.prefix)!;
    const kind = r.reject ? 'reject' : r.blackhole ? 'blackhole' : 'unicast';
    const via = r.via === null ? null : parseIpv6(r.via)!;
    let port = r.interface === null ? -1 : config.interfaces.findIndex((i) => i.name === r.interface);
    if (port < 0 && via !== null) {
      port = onLink.findIndex((prefixes) => prefixes.some((p) => prefixMatch(p.addr, 0, via, 0, p.len)));
      if (port < 0) throw new ConfigRejected(`route ${r.prefix}: next hop ${formatIpv6(via)} is on no configured prefix (give its interface)`);
    }
    yield {
      prefix: prefix.addr,
      prefixLen: prefix.len,
      origin: 'static',
      preference: r.preference,
      metric: 0,
      kind,
      nexthops: kind === 'unicast' ? [{ port, gateway: via }] : [],
    };
  }
}

function inPlace(describe: string[], apply: () => Promise<void> | void, abort: () => Promise<void> | void = () => {}): PreparedChange {
  return { describe, mode: 'in-place', apply: async () => apply(), abort: async () => abort() };
}

/** Keys of a port that are fixed while it is open. */
const PORT_FIXED = ['kind', 'mac', 'netns', 'attach', 'linkLocal'] as const;

export function reloadParticipants(target: ReloadTarget): ReloadParticipant[] {
  const interfaces: ReloadParticipant = {
    name: 'interfaces',
    prepare: async (next, current) => {
      const names = (c: Config) => c.interfaces.map((i) => i.name).join(',');
      if (names(next) !== names(current)) {
        throw new ConfigRejected(`the list of interfaces changed (${names(current)} → ${names(next)}): ports are opened at start, restart turtle6 to apply`);
      }
      const describe: string[] = [];
      const updates: Array<() => void> = [];
      next.interfaces.forEach((n, port) => {
        const c = current.interfaces[port]!;
        for (const key of PORT_FIXED) {
          if (!isDeepStrictEqual(n[key], c[key])) {
            throw new ConfigRejected(`interfaces[${n.name}].${key} changed: a port's ${key} is fixed while it is open, restart turtle6 to apply`);
          }
        }
        if (isDeepStrictEqual(n, c)) return;
        if (n.mtu > target.largestMtu) {
          throw new ConfigRejected(`interfaces[${n.name}].mtu ${n.mtu} is larger than the lanes' pool slots hold (they were sized at start for an MTU of ${target.largestMtu}): restart turtle6 to apply`);
        }
        const before = stackInterface(c, port);
        const after = stackInterface(n, port);
        if (!isDeepStrictEqual(n.addresses, c.addresses)) describe.push(`${n.name}: addresses ${c.addresses.join(' ')} → ${n.addresses.join(' ')}`);
        if (n.mtu !== c.mtu) describe.push(`${n.name}: mtu ${c.mtu} → ${n.mtu}`);
        if (!isDeepStrictEqual(n.ra, c.ra)) describe.push(`${n.name}: router advertisements changed`);
        if (n.redirects !== c.redirects) describe.push(`${n.name}: redirects ${c.redirects} → ${n.redirects}`);
        updates.push(() => {
          if (before.mtu !== after.mtu) setMtu(target.deviceOf(n.name), after.mtu, n.netns === null ? {} : { netns: n.netns });
          target.stack.updateInterface(port, after);
        });
      });
      if (updates.length === 0) return null;
      return inPlace(describe, () => updates.forEach((u) => u()));
    },
  };

  const routes: ReloadParticipant = {
    name: 'routes',
    prepare: async (next, current) => {
      if (isDeepStrictEqual(next.routes, current.routes)) return null;
      const computed = [...staticRoutes(next)];
      // By prefix, in maps: a full table is 100,000 routes, and a search per route is 10¹⁰ steps.
      const before = new Map(current.routes.map((r) => [r.prefix, r]));
      const after = new Map(next.routes.map((r) => [r.prefix, r]));
      const describe = [
        ...[...after.keys()].filter((p) => !before.has(p)).map((p) => `route ${p} added`),
        ...[...before.keys()].filter((p) => !after.has(p)).map((p) => `route ${p} removed`),
        ...next.routes.filter((r) => before.has(r.prefix) && !isDeepStrictEqual(r, before.get(r.prefix))).map((r) => `route ${r.prefix} changed`),
      ];
      return inPlace(describe, () => target.stack.rib.replaceOrigin('static', computed));
    },
  };

  const log: ReloadParticipant = {
    name: 'log',
    prepare: async (next, current) => {
      if (isDeepStrictEqual(next.log, current.log)) return null;
      return inPlace([`log level ${current.log.level} → ${next.log.level}, ${current.log.ratePerKind} → ${next.log.ratePerKind} lines/s per kind`], () => {
        target.root.level = next.log.level;
        target.setLogRate(next.log.ratePerKind);
      });
    },
  };

  const metrics: ReloadParticipant = {
    name: 'metrics',
    prepare: async (next, current) => {
      if (next.metrics.listen === current.metrics.listen) return null;
      return {
        describe: [`metrics listener ${current.metrics.listen || '(off)'} → ${next.metrics.listen || '(off)'}`],
        mode: 'restart-module',
        apply: () => target.restartMetrics(next.metrics.listen),
        abort: async () => {},
      };
    },
  };

  const dataplane: ReloadParticipant = {
    name: 'dataplane',
    prepare: async (next, current) => {
      const { icmpErrors: nextIcmp, puntPolicing: nextPolicing, ...nextRest } = next.dataplane;
      const { icmpErrors: currentIcmp, puntPolicing: currentPolicing, ...currentRest } = current.dataplane;
      if (!isDeepStrictEqual(nextRest, currentRest)) {
        throw new ConfigRejected('dataplane changed beyond icmpErrors and puntPolicing: the lanes are built at start, restart turtle6 to apply');
      }
      const describe: string[] = [];
      if (!isDeepStrictEqual(nextIcmp, currentIcmp)) {
        describe.push(`ICMPv6 error limit ${currentIcmp.rate}/s burst ${currentIcmp.burst} → ${nextIcmp.rate}/s burst ${nextIcmp.burst}`);
      }
      for (const name of PUNT_CLASSES) {
        const [was, now] = [currentPolicing[name], nextPolicing[name]];
        if (!isDeepStrictEqual(was, now)) describe.push(`punt policing ${name} ${was.rate}/s burst ${was.burst} → ${now.rate}/s burst ${now.burst}`);
      }
      if (describe.length === 0) return null;
      return inPlace(describe, () => {
        target.setIcmpLimits(nextIcmp.rate, nextIcmp.burst);
        target.setPuntPolicing(nextPolicing);
      });
    },
  };

  const fixed: ReloadParticipant = {
    name: 'restart-only',
    prepare: async (next, current) => {
      for (const key of ['nd', 'control', 'stateDir'] as const) {
        if (!isDeepStrictEqual(next[key], current[key])) {
          throw new ConfigRejected(`${key} changed: it takes effect only when turtle6 starts (lanes, the control socket and the state directory are set up once); restart turtle6 to apply`);
        }
      }
      return null;
    },
  };

  return [fixed, dataplane, interfaces, routes, log, metrics];
}
