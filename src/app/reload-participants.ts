/**
 * What a reload can change on a running router, module by module (FRR's transaction: each
 * participant validates and prepares, then all apply, or all abort and the running config
 * stays). In place: addresses, MTU, router advertisements, static routes, log level, the
 * metrics listener. Ports: one added opens on every lane, one removed closes on every lane,
 * one whose kind/mac/netns/attach/linkLocal changed restarts alone (closed, then opened
 * again); the other ports keep forwarding. Refused with the reason, the running config
 * staying: the dataplane section beyond its rates, the control socket, stateDir, nd, and a
 * port whose MTU needs larger pool slots than the lanes were built with.
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
import { MAX_PORTS } from '../shm/port-table.js';

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
  /** The port index of each running port, by interface name. */
  portOf(name: string): number;
  /** Reserves a port index for a port to open (prepare); null when every index is taken. */
  reservePort(): number | null;
  /** Gives back a reserved index that was never used (abort). */
  unreservePort(port: number): void;
  /** Closes a running port on every lane, with its stack interface and kernel side. */
  closePort(name: string): Promise<void>;
  /** Opens a port at a reserved index on every lane, and brings its interface up. */
  openPort(iface: InterfaceConfig, port: number): Promise<void>;
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
export function* staticRoutes(config: Config, portOf: (name: string) => number): Generator<RibRoute> {
  const onLink = config.interfaces.map((i) => i.addresses.map((a) => parsePrefix(a)!).filter((p) => p.len < 128));
  for (const r of config.routes) {
    const prefix = parsePrefix(r.prefix)!;
    const kind = r.reject ? 'reject' : r.blackhole ? 'blackhole' : 'unicast';
    const nexthops = r.nexthops.map((n) => {
      const via = n.via === null ? null : parseIpv6(n.via)!;
      let port = n.interface === null ? -1 : portOf(n.interface);
      if (port < 0 && via !== null) {
        const at = onLink.findIndex((prefixes) => prefixes.some((p) => prefixMatch(p.addr, 0, via, 0, p.len)));
        if (at >= 0) port = portOf(config.interfaces[at]!.name);
        if (port < 0) throw new ConfigRejected(`route ${r.prefix}: next hop ${formatIpv6(via)} is on no configured prefix (give its interface)`);
      }
      return { port, gateway: via };
    });
    // More than one next hop: the FIB makes them an ECMP group (stack/rib.ts).
    yield { prefix: prefix.addr, prefixLen: prefix.len, origin: 'static', preference: r.preference, metric: 0, kind, nexthops };
  }
}

function inPlace(describe: string[], apply: () => Promise<void> | void, abort: () => Promise<void> | void = () => {}): PreparedChange {
  return { describe, mode: 'in-place', apply: async () => apply(), abort: async () => abort() };
}

/** Keys of a port that are fixed while it is open: changing one restarts the port. */
export const PORT_RESTART_KEYS = ['kind', 'mac', 'netns', 'attach', 'linkLocal'] as const;
/** Keys of a port applied while it runs. */
export const PORT_IN_PLACE_KEYS = ['addresses', 'mtu', 'ra', 'redirects'] as const;

export interface PortChanges {
  /** In the new config only: opened on every lane. */
  readonly added: InterfaceConfig[];
  /** In the running config only: closed on every lane. */
  readonly removed: InterfaceConfig[];
  /** A restart key changed: closed, then opened again with the new config. */
  readonly restarted: Array<{ readonly before: InterfaceConfig; readonly after: InterfaceConfig; readonly keys: string[] }>;
  /** Only in-place keys changed. */
  readonly inPlace: Array<{ readonly before: InterfaceConfig; readonly after: InterfaceConfig; readonly keys: string[] }>;
}

/** How a reload changes the ports, matched by name (a renamed port is one removed and one added). */
export function classifyPortChanges(current: readonly InterfaceConfig[], next: readonly InterfaceConfig[]): PortChanges {
  const before = new Map(current.map((i) => [i.name, i]));
  const names = new Set(next.map((i) => i.name));
  const out: PortChanges = { added: [], removed: current.filter((i) => !names.has(i.name)), restarted: [], inPlace: [] };
  for (const after of next) {
    const was = before.get(after.name);
    if (was === undefined) {
      out.added.push(after);
      continue;
    }
    const restartKeys = PORT_RESTART_KEYS.filter((k) => !isDeepStrictEqual(was[k], after[k]));
    if (restartKeys.length > 0) out.restarted.push({ before: was, after, keys: restartKeys });
    else {
      const keys = PORT_IN_PLACE_KEYS.filter((k) => !isDeepStrictEqual(was[k], after[k]));
      if (keys.length > 0) out.inPlace.push({ before: was, after, keys });
    }
  }
  return out;
}

/** The names of the ports a reload opens or closes (added, removed, restarted): modules on them restart. */
export function portsReopened(changes: PortChanges): Set<string> {
  return new Set([...changes.added, ...changes.removed, ...changes.restarted.map((r) => r.after)].map((i) => i.name));
}

export interface ReloadParticipants {
  readonly participants: ReloadParticipant[];
  /** After the interfaces participant prepared: the ports the reload opens or closes. */
  reopened(): ReadonlySet<string>;
}

export function reloadParticipants(target: ReloadTarget): ReloadParticipants {
  /** Port indices of the next config's ports, set by the interfaces participant's prepare. */
  let nextPorts = new Map<string, number>();
  let reopened = new Set<string>();

  const interfaces: ReloadParticipant = {
    name: 'interfaces',
    prepare: async (next, current) => {
      const changes = classifyPortChanges(current.interfaces, next.interfaces);
      const opening = [...changes.added, ...changes.restarted.map((r) => r.after)];
      for (const n of [...opening, ...changes.inPlace.map((c) => c.after)]) {
        if (n.mtu > target.largestMtu) {
          throw new ConfigRejected(`interfaces[${n.name}].mtu ${n.mtu} is larger than the lanes' pool slots hold (they were sized at start for an MTU of ${target.largestMtu}): restart turtle6 to apply`);
        }
      }
      nextPorts = new Map(next.interfaces.map((i) => [i.name, changes.added.some((a) => a.name === i.name) ? -1 : target.portOf(i.name)]));
      reopened = portsReopened(changes);
      if (reopened.size === 0 && changes.inPlace.length === 0) return null;
      // A reopened port gets a fresh index: the old one rests until the lanes have long let go of it.
      const reserved: number[] = [];
      for (const n of opening) {
        const port = target.reservePort();
        if (port === null) {
          for (const r of reserved) target.unreservePort(r);
          throw new ConfigRejected(`interfaces[${n.name}]: no free port index (at most ${MAX_PORTS} ports, the host port included)`);
        }
        reserved.push(port);
        nextPorts.set(n.name, port);
      }
      const describe = [
        ...changes.removed.map((c) => `${c.name}: removed (closed on every lane)`),
        ...changes.restarted.map((r) => `${r.after.name}: restarts (${r.keys.join(', ')} changed)`),
        ...changes.added.map((n) => `${n.name}: added (opened on every lane)`),
      ];
      for (const { before: c, after: n } of changes.inPlace) {
        if (!isDeepStrictEqual(n.addresses, c.addresses)) describe.push(`${n.name}: addresses ${c.addresses.join(' ')} → ${n.addresses.join(' ')}`);
        if (n.mtu !== c.mtu) describe.push(`${n.name}: mtu ${c.mtu} → ${n.mtu}`);
        if (!isDeepStrictEqual(n.ra, c.ra)) describe.push(`${n.name}: router advertisements changed`);
        if (n.redirects !== c.redirects) describe.push(`${n.name}: redirects ${c.redirects} → ${n.redirects}`);
      }
      let opened = 0;
      return {
        describe,
        mode: reopened.size > 0 ? 'restart-module' : 'in-place',
        apply: async () => {
          for (const c of [...changes.removed, ...changes.restarted.map((r) => r.before)]) await target.closePort(c.name);
          for (const n of opening) {
            await target.openPort(n, reserved[opened]!);
            opened++;
          }
          for (const { before: c, after: n } of changes.inPlace) {
            const port = target.portOf(n.name);
            if (c.mtu !== n.mtu) setMtu(target.deviceOf(n.name), n.mtu, n.netns === null ? {} : { netns: n.netns });
            target.stack.updateInterface(port, stackInterface(n, port));
          }
        },
        // Indices of ports not opened go back (after a failed apply, the opened ones are in use).
        abort: async () => {
          for (const port of reserved.slice(opened)) target.unreservePort(port);
        },
      };
    },
  };

  const routes: ReloadParticipant = {
    name: 'routes',
    prepare: async (next, current) => {
      // A reopened port has a new index: the routes through it are computed again.
      if (isDeepStrictEqual(next.routes, current.routes) && reopened.size === 0) return null;
      const computed = [...staticRoutes(next, (name) => nextPorts.get(name)!)];
      // By prefix, in maps: a full table is 100,000 routes, and a search per route is 10¹⁰ steps.
      const before = new Map(current.routes.map((r) => [r.prefix, r]));
      const after = new Map(next.routes.map((r) => [r.prefix, r]));
      const describe = [
        ...(isDeepStrictEqual(next.routes, current.routes) ? ['static routes computed again for the reopened ports'] : []),
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

  return { participants: [fixed, dataplane, interfaces, routes, log, metrics], reopened: () => reopened };
}
