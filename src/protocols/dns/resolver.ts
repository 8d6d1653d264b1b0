/**
 * The stub resolver's send loop: the book's res_send (BIND's libresolv), for the appliance's
 * own lookups (`turtle6ctl resolve`; upstream hostnames in config later).
 *
 * - Rounds through the server list `attempts` times. Round 0 waits `timeoutMs` per server;
 *   round n waits (timeoutMs << n) / servers (res_send's `retrans << try`, divided by
 *   nscount after the first round), never less than MIN_TIMEOUT_MS.
 * - Each query goes out on a fresh UDP socket (a random source port) with a random ID
 *   (RFC 5452 §9.2). A reply is accepted only from the queried server's address and port,
 *   with the query's ID, QR set and the same single question (name case-insensitively,
 *   type, class: §9.1); anything else is ignored and counted, and the wait goes on.
 * - SERVFAIL, NOTIMP, REFUSED and FORMERR move on to the next server, and that server is
 *   not asked again for this query (res_send's `badns`); if every server failed so, the
 *   last such reply is the result.
 * - TC=1 asks the same server again over TCP (RFC 7766 §5, 2-byte framing), with the same
 *   per-server timeout; a TCP failure moves on to the next server.
 * - EDNS0 (RFC 6891) with a UDP payload size of 1232 (the DNS Flag Day 2020 value, one
 *   IPv6 minimum MTU less headers). §6.2.2 fallback: FORMERR or NOTIMP without an OPT in the
 *   reply means the server does not speak EDNS, so the same server is asked again without
 *   OPT at once; a timeout with OPT makes the next round ask that server without OPT. A
 *   server that then answers without OPT is remembered as EDNS-less for EDNS_HOLD_MS.
 */
import { randomInt } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import {
  canonicalDnsName,
  decodeDns,
  dnsNamesEqual,
  dnsQuery,
  DNS_RCODE,
  dnsRcodeName,
  encodeDnsToBytes,
  type DnsMessage,
  type Edns,
} from '../../wire/dns.js';
import { formatDnsServer, fromServer, type DnsServer, type DnsTransport, type Peer, type UdpChannel } from './transport.js';

export interface ResolverConfig {
  readonly servers: readonly DnsServer[];
  /** resolv.conf `timeout` (RES_TIMEOUT), in ms: the first round's wait per server. */
  readonly timeoutMs: number;
  /** resolv.conf `attempts` (RES_DFLRETRY): rounds through the server list. */
  readonly attempts: number;
  /** EDNS0 UDP payload size advertised; 0 sends no OPT at all. */
  readonly ednsUdpSize: number;
}

export const RESOLVER_DEFAULTS = { timeoutMs: 5000, attempts: 2, ednsUdpSize: 1232 } as const;
export const MIN_TIMEOUT_MS = 1000;
/** How long a server that failed EDNS is asked without it before EDNS is tried again. */
export const EDNS_HOLD_MS = 10 * 60_000;

/** Counters per server, for `turtle6ctl` and metrics. */
export interface ServerStats {
  queries: number;
  /** UDP waits that ended without an acceptable reply. */
  timeouts: number;
  /** Datagrams ignored: wrong source, ID, question or QR, or undecodable. */
  ignored: number;
  /** Replies with TC=1 (each one retried over TCP). */
  truncated: number;
  tcpQueries: number;
  tcpFailures: number;
  /** SERVFAIL, NOTIMP, REFUSED or FORMERR replies that moved on to the next server. */
  errorReplies: number;
  /** Queries repeated without OPT (RFC 6891 §6.2.2). */
  ednsFallbacks: number;
  /** RFC 4074 misbehaviour on AAAA seen by lookup(). */
  rfc4074: number;
}

export type QueryOutcome =
  | {
      readonly ok: true;
      readonly message: DnsMessage;
      readonly server: DnsServer;
      readonly transport: 'udp' | 'tcp';
      /** Whether the accepted query carried an OPT record. */
      readonly edns: boolean;
    }
  | {
      readonly ok: false;
      readonly reason: 'bad-name' | 'no-servers' | 'timeout' | 'error-rcode' | 'tcp-failed';
      readonly detail: string;
      /** For error-rcode: the last such reply and its server. */
      readonly message?: DnsMessage;
      readonly server?: DnsServer;
    };

/** What one exchange with one server came to. */
type Step =
  | { readonly kind: 'answer'; readonly message: DnsMessage; readonly transport: 'udp' | 'tcp'; readonly edns: boolean }
  | { readonly kind: 'error-rcode'; readonly message: DnsMessage }
  | { readonly kind: 'timeout'; readonly edns: boolean }
  | { readonly kind: 'tcp-failed'; readonly detail: string };

const NEXT_SERVER_RCODES: ReadonlySet<number> = new Set([DNS_RCODE.SERVFAIL, DNS_RCODE.NOTIMP, DNS_RCODE.REFUSED, DNS_RCODE.FORMERR]);

export interface ResolverDeps {
  readonly clock: Clock;
  readonly transport: DnsTransport;
  /** Query IDs; unpredictable by default (RFC 5452 §9.2). Tests may pass their own. */
  readonly randomId?: () => number;
}

export class Resolver {
  private config: ResolverConfig;
  private readonly stats = new Map<string, ServerStats>();
  /** Server key → clock time until which it is asked without OPT. */
  private readonly noEdnsUntil = new Map<string, number>();
  private readonly randomId: () => number;

  constructor(
    private readonly deps: ResolverDeps,
    config: ResolverConfig,
  ) {
    this.config = config;
    this.randomId = deps.randomId ?? (() => randomInt(0, 0x10000));
  }

  reconfigure(config: ResolverConfig): void {
    this.config = config;
  }

  get servers(): readonly DnsServer[] {
    return this.config.servers;
  }

  /** Counters per server, keyed by formatDnsServer. */
  serverStats(): ReadonlyMap<string, Readonly<ServerStats>> {
    return this.stats;
  }

  statsFor(server: DnsServer): ServerStats {
    const key = formatDnsServer(server);
    let s = this.stats.get(key);
    if (s === undefined) {
      s = { queries: 0, timeouts: 0, ignored: 0, truncated: 0, tcpQueries: 0, tcpFailures: 0, errorReplies: 0, ednsFallbacks: 0, rfc4074: 0 };
      this.stats.set(key, s);
    }
    return s;
  }

  /** The wait for one server in round `attempt` (res_send's `retrans << try`, / nscount after round 0). */
  timeoutFor(attempt: number): number {
    let t = this.config.timeoutMs * 2 ** attempt;
    if (attempt > 0) t = Math.floor(t / Math.max(1, this.config.servers.length));
    return Math.max(MIN_TIMEOUT_MS, t);
  }

  /** res_send: asks the servers for `name`/`type` (class IN) until one answers. */
  async query(name: string, type: number): Promise<QueryOutcome> {
    const qname = canonicalDnsName(name);
    if (qname === null) return { ok: false, reason: 'bad-name', detail: `${JSON.stringify(name)} is not a domain name` };
    const servers = this.config.servers;
    if (servers.length === 0) return { ok: false, reason: 'no-servers', detail: 'no DNS servers are configured' };
    const channel = new Waiter(this.deps.transport.openUdp(), (s) => this.statsFor(s));
    const badServer = new Set<number>();
    /** Servers that timed out with OPT: their next round goes without it. */
    const timedOutWithEdns = new Set<number>();
    let lastError: { message: DnsMessage; server: DnsServer } | undefined;
    let lastTcpFailure: string | undefined;
    try {
      for (let attempt = 0; attempt < this.config.attempts; attempt++) {
        for (let i = 0; i < servers.length; i++) {
          if (badServer.has(i)) continue;
          const server = servers[i]!;
          const step = await this.exchange(channel, server, qname, type, this.timeoutFor(attempt), timedOutWithEdns.has(i));
          switch (step.kind) {
            case 'answer':
              return { ok: true, message: step.message, server, transport: step.transport, edns: step.edns };
            case 'error-rcode':
              lastError = { message: step.message, server };
              badServer.add(i);
              break;
            case 'tcp-failed':
              lastTcpFailure = `${formatDnsServer(server)}: ${step.detail}`;
              badServer.add(i);
              break;
            case 'timeout':
              if (step.edns) timedOutWithEdns.add(i);
              break;
          }
        }
        if (badServer.size === servers.length) break;
      }
    } finally {
      channel.close();
    }
    if (lastError !== undefined) {
      return { ok: false, reason: 'error-rcode', detail: `every server failed; last ${formatDnsServer(lastError.server)} answered ${dnsRcodeName(lastError.message.rcode)}`, ...lastError };
    }
    if (lastTcpFailure !== undefined) return { ok: false, reason: 'tcp-failed', detail: lastTcpFailure };
    return { ok: false, reason: 'timeout', detail: `no reply from ${servers.map(formatDnsServer).join(', ')} in ${this.config.attempts} round(s)` };
  }

  private ednsFor(server: DnsServer, afterTimeout: boolean): Edns | null {
    if (this.config.ednsUdpSize === 0 || afterTimeout) return null;
    const until = this.noEdnsUntil.get(formatDnsServer(server));
    if (until !== undefined && this.deps.clock.now() < until) return null;
    return { udpSize: this.config.ednsUdpSize, extendedRcode: 0, version: 0, dnssecOk: false, z: 0, options: [] };
  }

  private async exchange(channel: Waiter, server: DnsServer, qname: string, type: number, timeout: number, afterEdnsTimeout: boolean): Promise<Step> {
    const stats = this.statsFor(server);
    let edns = this.ednsFor(server, afterEdnsTimeout);
    if (afterEdnsTimeout && this.config.ednsUdpSize !== 0) stats.ednsFallbacks++;
    for (;;) {
      const query = dnsQuery(this.randomId(), qname, type, edns);
      stats.queries++;
      const reply = await channel.ask(server, query, this.deps.clock, timeout);
      if (reply === null) {
        stats.timeouts++;
        return { kind: 'timeout', edns: edns !== null };
      }
      // §6.2.2 / §7: a server without EDNS answers FORMERR (or NOTIMP) and no OPT.
      if (edns !== null && reply.edns === null && (reply.rcode === DNS_RCODE.FORMERR || reply.rcode === DNS_RCODE.NOTIMP)) {
        stats.ednsFallbacks++;
        this.noEdnsUntil.set(formatDnsServer(server), this.deps.clock.now() + EDNS_HOLD_MS);
        edns = null;
        continue;
      }
      if (afterEdnsTimeout && this.config.ednsUdpSize !== 0) this.noEdnsUntil.set(formatDnsServer(server), this.deps.clock.now() + EDNS_HOLD_MS);
      if (reply.tc) {
        stats.truncated++;
        return this.overTcp(server, query, timeout, edns !== null);
      }
      if (NEXT_SERVER_RCODES.has(reply.rcode)) {
        stats.errorReplies++;
        return { kind: 'error-rcode', message: reply };
      }
      return { kind: 'answer', message: reply, transport: 'udp', edns: edns !== null };
    }
  }

  private async overTcp(server: DnsServer, query: DnsMessage, timeout: number, edns: boolean): Promise<Step> {
    const stats = this.statsFor(server);
    stats.tcpQueries++;
    const ex = this.deps.transport.tcp(server, encodeDnsToBytes(query));
    const timer = this.deps.clock.setTimer(timeout, () => ex.abort());
    let bytes: Uint8Array;
    try {
      bytes = await ex.reply;
    } catch (e) {
      stats.tcpFailures++;
      return { kind: 'tcp-failed', detail: e instanceof Error ? e.message : String(e) };
    } finally {
      timer.cancel();
    }
    const d = decodeDns(bytes);
    if (!d.ok || !answers(d.value, query)) {
      stats.tcpFailures++;
      return { kind: 'tcp-failed', detail: d.ok ? 'reply does not match the query' : `undecodable reply: ${d.reason}` };
    }
    if (NEXT_SERVER_RCODES.has(d.value.rcode)) {
      stats.errorReplies++;
      return { kind: 'error-rcode', message: d.value };
    }
    return { kind: 'answer', message: d.value, transport: 'tcp', edns };
  }
}

/** RFC 5452 §9.1: the reply is to this query (the source is checked by the caller). */
function answers(reply: DnsMessage, query: DnsMessage): boolean {
  if (!reply.qr || reply.id !== query.id || reply.questions.length !== 1) return false;
  const q = query.questions[0]!;
  const r = reply.questions[0]!;
  return r.type === q.type && r.class === q.class && dnsNamesEqual(r.name, q.name);
}

/**
 * One query's UDP socket and the single wait on it: datagrams are matched against the
 * outstanding query and the rest are counted as ignored on the server being waited for.
 */
class Waiter {
  private pending: ((bytes: Uint8Array, from: Peer) => void) | null = null;

  constructor(
    private readonly channel: UdpChannel,
    private readonly statsFor: (s: DnsServer) => ServerStats,
  ) {
    channel.onMessage((bytes, from) => this.pending?.(bytes, from));
  }

  ask(server: DnsServer, query: DnsMessage, clock: Clock, timeout: number): Promise<DnsMessage | null> {
    const stats = this.statsFor(server);
    return new Promise((resolve) => {
      const finish = (m: DnsMessage | null): void => {
        timer.cancel();
        this.pending = null;
        resolve(m);
      };
      const timer = clock.setTimer(timeout, () => finish(null));
      this.pending = (bytes, from) => {
        if (!fromServer(from, server)) return void stats.ignored++;
        const d = decodeDns(bytes);
        if (!d.ok || !answers(d.value, query)) return void stats.ignored++;
        finish(d.value);
      };
      this.channel.send(server, encodeDnsToBytes(query));
    });
  }

  close(): void {
    this.pending = null;
    this.channel.close();
  }
}

