/**
 * Routes for prefixes delegated through the relay (docs/dhcpv6.md, "Routes for prefixes
 * delegated through the relay").
 *
 * The delegating router must route a delegated prefix to the requesting router (RFC 8415
 * §6.3, RFC 3633 §14). When the server is one hop away behind this relay, the server cannot:
 * its next hop would be on the client's link, which only the relay is on. So the relay reads
 * the Relay-reply it passes on, as Cisco's and Juniper's relays and dnsmasq do: a Reply that
 * carries IA_PD prefixes with a valid lifetime installs a route for each, via the client's
 * address (the peer-address, §19.2) on the port the Reply goes out of, until the valid
 * lifetime ends (renewed by the Reply to each Renew or Rebind). A prefix with valid lifetime
 * 0, an IA_PD the server answers with NoBinding, and a Release or Decline the server answers
 * with Success remove it. The routes have their own origin, `dhcpv6-pd`, and are kept on disk
 * so that a restart loses none: the client renews only at T1.
 */
import { join } from 'node:path';
import { formatIpv6, parseIpv6 } from '../../lib/addr.js';
import { DHCP6_MSG, DHCP6_STATUS, findOption, formatDuid, type Dhcp6ClientMessage, type Dhcp6Option } from '../../wire/dhcpv6.js';
import { defaultPreference, type RouteOrigin } from '../../stack/rib.js';
import type { RouteSource } from '../../stack/stack-api.js';
import { DurableMap } from './auth.js';

/** The route origin of prefixes delegated through the relay. */
export const RELAY_PD_ORIGIN: RouteOrigin = 'dhcpv6-pd';

/** §7.7: a lifetime of 0xffffffff is infinity. */
const INFINITY = 0xffffffff;

/** One delegated prefix as stored (JSON in `relay-pd.json`, keyed by `prefix/len`). */
interface Delegation {
  readonly duid: string;
  readonly iaid: number;
  /** The interface the client is on (the Relay-reply's Interface-ID), by name: ports may be renumbered across a restart. */
  readonly iface: string;
  /** The client's address on that link (peer-address), the route's next hop. */
  readonly via: string;
  /** Epoch milliseconds when the valid lifetime ends; null for infinity. */
  readonly validUntil: number | null;
}

/** What the snooper needs of the module: interface names to ports, and the wall clock. */
export interface RelayRouteContext {
  readonly routes: RouteSource;
  portOf(iface: string): number | undefined;
  nowMs(): number;
}

export class RelayPdRoutes {
  private readonly store: DurableMap;
  /** Release and Decline messages forwarded, by client DUID and transaction-id, with the prefixes they gave back. */
  private readonly returning = new Map<string, readonly string[]>();

  constructor(stateDir: string, private readonly ctx: RelayRouteContext) {
    this.store = new DurableMap(join(stateDir, 'relay-pd.json'));
  }

  /** Reinstalls what the store holds (after a start), dropping what expired meanwhile. */
  restore(): void {
    this.expire();
    this.sync();
  }

  /** A client message the relay forwards: a Release or Decline names the prefixes it gives back. */
  forwarded(msg: Dhcp6ClientMessage): void {
    if (msg.msgType !== DHCP6_MSG.RELEASE && msg.msgType !== DHCP6_MSG.DECLINE) return;
    const duid = clientDuid(msg);
    if (duid === undefined) return;
    const prefixes = iaPrefixes(msg.options).map((p) => `${formatIpv6(p.prefix)}/${p.prefixLen}`);
    if (prefixes.length > 0) this.returning.set(`${duid}|${msg.transactionId}`, prefixes);
  }

  /** A Reply the relay passes to the client `via` on interface `iface`. */
  reply(msg: Dhcp6ClientMessage, iface: string, via: Uint8Array): void {
    if (msg.msgType !== DHCP6_MSG.REPLY) return;
    const duid = clientDuid(msg);
    if (duid === undefined) return;
    const returned = this.returning.get(`${duid}|${msg.transactionId}`);
    if (returned !== undefined) {
      this.returning.delete(`${duid}|${msg.transactionId}`);
      // §18.3.7: the server answers a Release with Success whatever it held; an absent Status Code is Success (§21.13).
      const status = findOption(msg.options, 'statusCode')?.status ?? DHCP6_STATUS.SUCCESS;
      if (status === DHCP6_STATUS.SUCCESS) for (const key of returned) this.store.delete(key);
    }
    const now = this.ctx.nowMs();
    for (const o of msg.options) {
      if (o.kind !== 'iaPd') continue;
      const status = findOption(o.options, 'statusCode')?.status;
      if (status === DHCP6_STATUS.NO_BINDING) {
        for (const [key, d] of this.delegations()) if (d.duid === duid && d.iaid === o.iaid) this.store.delete(key);
        continue;
      }
      for (const p of iaPrefixes(o.options)) {
        const key = `${formatIpv6(p.prefix)}/${p.prefixLen}`;
        if (p.valid === 0) {
          this.store.delete(key);
          continue;
        }
        const d: Delegation = { duid, iaid: o.iaid, iface, via: formatIpv6(via), validUntil: p.valid === INFINITY ? null : now + p.valid * 1000 };
        this.store.set(key, JSON.stringify(d));
      }
    }
    this.sync();
  }

  /** Removes delegations whose valid lifetime has ended; true when any did. */
  expire(): boolean {
    const now = this.ctx.nowMs();
    let changed = false;
    for (const [key, d] of this.delegations()) {
      if (d.validUntil !== null && d.validUntil <= now) {
        this.store.delete(key);
        changed = true;
      }
    }
    if (changed) this.sync();
    return changed;
  }

  /** Makes the `dhcpv6-pd` routes exactly the stored delegations whose interface exists. */
  sync(): void {
    const routes = this.ctx.routes;
    const wanted = new Map<string, { prefix: Uint8Array; len: number; port: number; gateway: Uint8Array }>();
    for (const [key, d] of this.delegations()) {
      const port = this.ctx.portOf(d.iface);
      const [prefix, len] = key.split('/');
      if (port !== undefined) wanted.set(key, { prefix: parseIpv6(prefix!)!, len: Number(len), port, gateway: parseIpv6(d.via)! });
    }
    for (const r of routes.routes()) if (!wanted.has(`${formatIpv6(r.prefix)}/${r.prefixLen}`)) routes.withdrawRoute(r.prefix, r.prefixLen);
    for (const w of wanted.values()) {
      routes.addRoute({ prefix: w.prefix, prefixLen: w.len, preference: defaultPreference(RELAY_PD_ORIGIN), metric: 0, kind: 'unicast', nexthops: [{ port: w.port, gateway: w.gateway }] });
    }
  }

  /** Withdraws every route (the module stops); the delegations stay on disk for the next start. */
  withdrawAll(): void {
    for (const r of this.ctx.routes.routes()) this.ctx.routes.withdrawRoute(r.prefix, r.prefixLen);
  }

  private *delegations(): Generator<[string, Delegation]> {
    for (const [key, value] of [...this.store.entries()]) yield [key, JSON.parse(value) as Delegation];
  }
}

function clientDuid(msg: Dhcp6ClientMessage): string | undefined {
  const id = findOption(msg.options, 'clientId');
  return id === undefined ? undefined : formatDuid(id.duid);
}

/** The IA Prefix options of every IA_PD among `options` (or directly in them, inside one IA_PD). */
function iaPrefixes(options: readonly Dhcp6Option[]): Array<Extract<Dhcp6Option, { kind: 'iaPrefix' }>> {
  const out: Array<Extract<Dhcp6Option, { kind: 'iaPrefix' }>> = [];
  for (const o of options) {
    if (o.kind === 'iaPrefix') out.push(o);
    else if (o.kind === 'iaPd') out.push(...iaPrefixes(o.options));
  }
  return out;
}
