/**
 * MLD (RFC 2710, RFC 3810) as one protocol module: on each of its ports a listener part
 * reports the router's own groups (listener.ts) and a router part elects the querier and
 * keeps the link's memberships (querier.ts). This file is the glue: it validates every
 * received MLD message (RFC 3810 §5.1.14, §5.2.13, RFC 2711: hop limit 1, Router Alert,
 * link-local source; the stack has checked the ICMPv6 checksum), counts each drop by
 * reason, sends with a link-local source (`::` while it is tentative, RFC 3590), hop limit
 * 1 and Router Alert 0, and exposes the memberships (`memberships()`, `show mld ...`).
 */
import { UNSPECIFIED, formatIpv6, isLinkLocal, isUnspecified } from '../../lib/addr.js';
import type { RouterInterface } from '../../stack/interfaces.js';
import type { ReceivedIcmpv6, StackApi, Unsubscribe } from '../../stack/stack-api.js';
import { ICMP6 } from '../../wire/icmpv6.js';
import { decodeMldMessage, encodeMldMessage, mldMessageLength, type MldMessage } from '../../wire/mld.js';
import type { ModuleContext, ModuleStatus, ProtocolModule } from '../module.js';
import type { MldConfig, MldInterfaceConfig } from './config.js';
import { ALL_MLDV2_ROUTERS, MldListenerPort, type MldEnv } from './listener.js';
import { MldRouterPort, type MldMembership } from './querier.js';
import { renderGroups, renderInterfaces } from './show.js';

/** Why a received MLD message was dropped; each is a counter (`show mld interfaces`, metrics). */
export const MLD_DROPS = [
  /** On a port MLD does not run on. */
  'not_enabled',
  /** RFC 3810 §5: hop limit other than 1. */
  'bad_hop_limit',
  /** RFC 3810 §5, RFC 2711: no Router Alert option with value 0 (MLD). */
  'no_router_alert',
  /** §5.1.14, §5.2.13: a query not from a link-local address, a report from neither link-local nor ::. */
  'bad_source',
  /** Lengths: a truncated message, record or source list, an MLDv2 query of 25–27 octets. */
  'malformed',
  /** A group field that is not multicast (or not :: in a General Query). */
  'bad_group',
  /** An MLDv2 Report on a port configured for MLDv1 (RFC 3810 §8.3.1: an MLDv1 router does not know them). */
  'wrong_version',
  /** A record that would leave a group with more than maxSources sources; the record is ignored. */
  'too_many_sources',
] as const;
export type MldDrop = (typeof MLD_DROPS)[number];

/** Message kinds for the counters, by ICMPv6 type and, for queries, version. */
const KINDS = ['query_v1', 'query_v2', 'report_v1', 'report_v2', 'done'] as const;
type Kind = (typeof KINDS)[number];

function kindOf(msg: MldMessage): Kind {
  switch (msg.type) {
    case 'mldv1Query': return 'query_v1';
    case 'mldv2Query': return 'query_v2';
    case 'mldv1Report': return 'report_v1';
    case 'mldv2Report': return 'report_v2';
    case 'mldv1Done': return 'done';
  }
}

/** IPv6 header and the 8-octet Hop-by-Hop header with the Router Alert: what an MLD message leaves of the MTU. */
const HEADERS = 40 + 8;

interface Port {
  readonly iface: RouterInterface;
  config: MldInterfaceConfig;
  readonly listener: MldListenerPort;
  readonly router: MldRouterPort;
  readonly sent: Record<Kind, number>;
  readonly received: Record<Kind, number>;
}

export class MldModule implements ProtocolModule<MldConfig> {
  readonly name = 'mld';
  private ctx!: ModuleContext;
  private api!: StackApi;
  private readonly ports = new Map<number, Port>();
  private readonly unsubscribe: Unsubscribe[] = [];
  readonly drops = Object.fromEntries(MLD_DROPS.map((d) => [d, 0])) as Record<MldDrop, number>;
  private configured: readonly MldInterfaceConfig[] = [];

  start(ctx: ModuleContext, config: MldConfig): void {
    this.ctx = ctx;
    this.api = ctx.api;
    this.configured = config.interfaces;
    const byName = new Map(this.api.interfaces().map((i) => [i.name, i]));
    for (const ic of config.interfaces) {
      const iface = byName.get(ic.name);
      if (iface === undefined) continue;
      const zero = () => Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
      const sent = zero();
      const env: MldEnv = {
        clock: this.api.clock,
        rng: this.api.rng,
        send: (dst, msg) => this.send(iface, sent, dst, msg),
        maxMessage: iface.mtu - HEADERS,
      };
      this.ports.set(iface.port, {
        iface, config: ic, sent, received: zero(),
        listener: new MldListenerPort(env, ic),
        router: new MldRouterPort(env, ic, () => iface.linkLocal()),
      });
      // RFC 3810 §5.2.14: MLDv2 Reports go to ff02::16; every MLDv2 router listens there.
      if (ic.version === 2) this.api.joinGroup(iface.port, ALL_MLDV2_ROUTERS);
    }
    for (const type of [ICMP6.MLD_QUERY, ICMP6.MLD_REPORT, ICMP6.MLD_DONE, ICMP6.MLDV2_REPORT]) {
      this.unsubscribe.push(this.api.onIcmpv6(type, (m) => this.receive(m)));
    }
    if (this.api.onListenedGroupsChange !== undefined) {
      this.unsubscribe.push(this.api.onListenedGroupsChange((port) => this.refreshGroups(port)));
    }
    for (const p of this.ports.values()) {
      this.refreshGroups(p.iface.port);
      p.router.start();
    }
    this.registerCommands();
    this.registerMetrics();
  }

  /**
   * Timers, `querier` and `maxSources` apply in place, keeping the memberships; a different
   * set of interfaces, or a version change (ff02::16, the message formats), restarts the module.
   */
  prepareReconfigure(next: MldConfig): (() => void) | null {
    const sameShape = next.interfaces.length === this.configured.length && next.interfaces.every((n, i) => n.name === this.configured[i]!.name && n.version === this.configured[i]!.version);
    if (!sameShape) return null;
    return () => {
      this.configured = next.interfaces;
      for (const p of this.ports.values()) {
        const n = next.interfaces.find((i) => i.name === p.config.name)!;
        if (JSON.stringify(n) === JSON.stringify(p.config)) continue;
        p.config = n;
        p.listener.reconfigure(n);
        p.router.reconfigure(n);
      }
    };
  }

  stop(): void {
    for (const off of this.unsubscribe.splice(0)) off();
    for (const p of this.ports.values()) {
      p.listener.stop();
      p.router.stop();
      if (p.config.version === 2) this.api.leaveGroup(p.iface.port, ALL_MLDV2_ROUTERS);
    }
    this.ports.clear();
  }

  status(): ModuleStatus {
    return renderInterfaces(this.interfacesData());
  }

  /** The link's listeners per port, for multicast forwarding: what the router part learned from Reports. */
  memberships(port: number): readonly MldMembership[] {
    return this.ports.get(port)?.router.memberships() ?? [];
  }

  private refreshGroups(port: number): void {
    const p = this.ports.get(port);
    if (p === undefined || this.api.listenedGroups === undefined) return;
    p.listener.setGroups(this.api.listenedGroups(port));
  }

  // ---- send and receive ------------------------------------------------------------------

  private send(iface: RouterInterface, sent: Record<Kind, number>, dst: Uint8Array, msg: MldMessage): void {
    const ll = iface.linkLocal();
    const usable = iface.findAddress(ll)?.state === 'preferred';
    // RFC 3590 §4: a Report or Done before the link-local address is usable goes from ::; a
    // Query from :: would be discarded by every listener (RFC 3810 §5.1.14), so none is sent.
    if (!usable && (msg.type === 'mldv1Query' || msg.type === 'mldv2Query')) return;
    const buf = new Uint8Array(mldMessageLength(msg));
    encodeMldMessage(msg, buf, 0);
    this.api.sendIcmpv6({
      port: iface.port, src: usable ? ll : UNSPECIFIED, dst, hopLimit: 1, routerAlert: 0,
      type: buf[0]!, code: 0, body: buf.subarray(4),
    });
    sent[kindOf(msg)]++;
  }

  private receive(m: ReceivedIcmpv6): void {
    const p = this.ports.get(m.port);
    if (p === undefined) return this.drop('not_enabled', m);
    if (m.hopLimit !== 1) return this.drop('bad_hop_limit', m);
    if (m.routerAlert !== 0) return this.drop('no_router_alert', m);
    const whole = new Uint8Array(4 + m.body.length);
    whole[0] = m.type;
    whole[1] = m.code;
    whole.set(m.body, 4);
    const decoded = decodeMldMessage(whole, 0);
    if (!decoded.ok) return this.drop(decoded.reason === 'bad_group' ? 'bad_group' : 'malformed', m, decoded.reason);
    const msg = decoded.value;
    const isQuery = msg.type === 'mldv1Query' || msg.type === 'mldv2Query';
    if (!isLinkLocal(m.src) && (isQuery || !isUnspecified(m.src))) return this.drop('bad_source', m);
    if (msg.type === 'mldv2Report' && p.config.version === 1) return this.drop('wrong_version', m);
    p.received[kindOf(msg)]++;
    switch (msg.type) {
      case 'mldv1Query':
      case 'mldv2Query':
        if (msg.type === 'mldv1Query' && p.config.version === 2) {
          // RFC 3810 §8.3.1: an MLDv1 querier on the link; the operator should set version 1 here.
          this.ctx.limited('mld.v1-querier').warn({ interface: p.iface.name, querier: formatIpv6(m.src) }, 'MLDv1 querier on an MLDv2 link; consider version: 1 on this interface');
        }
        p.router.receiveQuery(m.src, msg);
        p.listener.receiveQuery(msg);
        return;
      case 'mldv1Report':
        p.listener.receiveReport(msg.group);
        p.router.receiveV1Report(msg.group);
        return;
      case 'mldv1Done':
        p.router.receiveV1Done(msg.group);
        return;
      case 'mldv2Report':
        for (const r of msg.records) {
          if (p.router.receiveRecord(r.recordType, r.group, r.sources) === 'too_many_sources') this.drop('too_many_sources', m);
        }
    }
  }

  private drop(reason: MldDrop, m: ReceivedIcmpv6, detail?: string): void {
    this.drops[reason]++;
    this.ctx.limited(`mld.${reason}`).debug({ reason, port: m.port, src: formatIpv6(m.src), type: m.type, ...(detail === undefined ? {} : { detail }) }, 'MLD message dropped');
  }

  // ---- observability -------------------------------------------------------------------

  groupsData(): Array<{ interface: string; group: string; mode: string; sources: string[]; excluded: string[]; uptime: number; expires: number; v1Host: boolean }> {
    return [...this.ports.values()].flatMap((p) =>
      p.router.memberships().map((g) => ({
        interface: p.iface.name, group: formatIpv6(g.group), mode: g.mode,
        sources: g.sources.map((s) => formatIpv6(s)), excluded: g.excluded.map((s) => formatIpv6(s)),
        uptime: g.uptime, expires: g.expires, v1Host: g.v1Host,
      })),
    );
  }

  interfacesData() {
    const now = this.api.clock.now();
    return {
      drops: { ...this.drops },
      interfaces: [...this.ports.values()].map((p) => ({
        name: p.iface.name,
        version: p.listener.version,
        configuredVersion: p.config.version,
        querier: p.router.isQuerier ? formatIpv6(p.iface.linkLocal()) : (p.router.otherQuerier === null ? null : formatIpv6(p.router.otherQuerier.addr)),
        isQuerier: p.router.isQuerier,
        otherQuerierExpires: p.router.otherQuerier === null ? null : Math.max(0, Math.round((p.router.otherQuerier.until - now) / 1000)),
        nextQuery: p.router.nextGeneralQueryAt === Infinity ? null : Math.max(0, Math.round((p.router.nextGeneralQueryAt - now) / 1000)),
        groups: p.router.memberships().length,
        joined: p.listener.reported().map((g) => formatIpv6(g)),
        timers: {
          robustness: p.config.robustness, queryInterval: p.config.queryInterval, queryResponseInterval: p.config.queryResponseInterval,
          lastListenerQueryInterval: p.config.lastListenerQueryInterval, lastListenerQueryCount: p.config.lastListenerQueryCount,
        },
        sent: { ...p.sent },
        received: { ...p.received },
      })),
    };
  }

  private registerCommands(): void {
    const c = this.ctx.commands;
    c.register(['show', 'mld', 'groups'], () => renderGroups(this.groupsData()), "the link's multicast listeners per interface, as the router part learned them (like ifmcstat)");
    c.register(['show', 'mld', 'interfaces'], () => renderInterfaces(this.interfacesData()), 'MLD per interface: version, querier, groups, the router\'s own groups, messages and drops');
  }

  private registerMetrics(): void {
    const m = this.ctx.metrics;
    m.counter({ name: 'mld_messages_total', help: 'MLD messages by interface, direction (sent, received: valid ones) and kind', labelNames: ['interface', 'direction', 'kind'] }, (emit) => {
      for (const p of this.ports.values()) {
        for (const k of KINDS) {
          emit({ interface: p.iface.name, direction: 'sent', kind: k }, p.sent[k]);
          emit({ interface: p.iface.name, direction: 'received', kind: k }, p.received[k]);
        }
      }
    });
    m.counter({ name: 'mld_drops_total', help: 'Received MLD messages (or records: too_many_sources) dropped, by reason', labelNames: ['reason'] }, (emit) => {
      for (const r of MLD_DROPS) emit({ reason: r }, this.drops[r]);
    });
    m.gauge({ name: 'mld_groups', help: 'Multicast groups with listeners on the link, per interface', labelNames: ['interface'] }, (emit) => {
      for (const p of this.ports.values()) emit({ interface: p.iface.name }, p.router.memberships().length);
    });
    m.gauge({ name: 'mld_querier', help: '1 where this router is the MLD querier of the link, else 0', labelNames: ['interface'] }, (emit) => {
      for (const p of this.ports.values()) emit({ interface: p.iface.name }, p.router.isQuerier ? 1 : 0);
    });
  }
}
