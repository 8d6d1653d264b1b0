/**
 * The `dns` module: the appliance's stub resolver (resolver.ts) on host sockets, and
 * `turtle6ctl resolve NAME [TYPE]`: without a type, getaddrinfo's AAAA-and-A lookup in
 * RFC 6724 order; with one, that query's answer. With `dns.forwarder`, also the caching
 * forwarder (forwarder.ts) on port 53: UDP through the stack, TCP on a host socket
 * (tcp-listener.ts). Per-server counters and the forwarder's are metrics. It always runs:
 * with no servers, resolve says so.
 *
 * Upstream servers: `dns.servers` first, in their order, then the servers the DHCPv6 client
 * learned (option 23, published through the stack), in the order it got them, without
 * duplicates. Learned link-local servers are left out: the resolver's host sockets cannot
 * reach a turtle6 port's link. The list is re-read before every upstream query.
 *
 * The cache is created once and kept across reloads (every `dns` change applies in place),
 * and across turning the forwarder off and on; `clear dns cache` empties it.
 */
import { formatIpv6, isLinkLocal, isMulticast, maskAddress, parsePrefix, type Prefix } from '../../lib/addr.js';
import type { ReceivedUdp, Unsubscribe } from '../../stack/stack-api.js';
import { dnsRcodeName, dnsTypeName, DNS_PORT, DNS_RCODE, formatRdata, parseDnsType } from '../../wire/dns.js';
import type { ModuleContext, ModuleStatus, ProtocolModule } from '../module.js';
import { CACHE_DEFAULTS, DnsCache, type CacheConfig } from './cache.js';
import { Forwarder, type ForwarderSettings } from './forwarder.js';
import { HostTransport } from './host-transport.js';
import { LocalData, type LocalRecordConfig } from './local.js';
import { lookup } from './lookup.js';
import { Resolver, type ResolverConfig, type ServerStats } from './resolver.js';
import { TcpListener } from './tcp-listener.js';
import { formatDnsServer, parseDnsServer, type DnsServer } from './transport.js';

export interface ForwarderConfig {
  readonly enabled: boolean;
  /** Client prefixes as text; absent: the router's own prefixes. */
  readonly allow?: readonly string[] | undefined;
  readonly cache: CacheConfig;
  readonly localDomain?: string | undefined;
  readonly records: readonly LocalRecordConfig[];
}

export interface DnsConfig {
  /** Server strings as parseDnsServer reads them (the config section checked them). */
  readonly servers: readonly string[];
  readonly timeout: number;
  readonly attempts: number;
  readonly ednsUdpSize: number;
  /** Absent: no forwarder. */
  readonly forwarder?: ForwarderConfig | undefined;
}

export const DNS_DEFAULTS: DnsConfig = { servers: [], timeout: 5, attempts: 2, ednsUdpSize: 1232 };

function configuredServers(c: DnsConfig): DnsServer[] {
  return c.servers.map((s) => parseDnsServer(s)).filter((s): s is DnsServer => typeof s !== 'string');
}

function resolverConfig(c: DnsConfig, servers: readonly DnsServer[]): ResolverConfig {
  return { servers, timeoutMs: c.timeout * 1000, attempts: c.attempts, ednsUdpSize: c.ednsUdpSize };
}

function forwarderSettings(f: ForwarderConfig | undefined): ForwarderSettings {
  return {
    allow: f?.allow === undefined ? null : f.allow.map((p) => parsePrefix(p)!),
    local: new LocalData(f?.records ?? [], f?.localDomain ?? null),
  };
}

const STAT_KEYS: ReadonlyArray<[keyof ServerStats, string]> = [
  ['queries', 'queries sent over UDP'],
  ['timeouts', 'UDP waits that ended without an acceptable reply'],
  ['ignored', 'datagrams ignored: wrong source, ID or question, or undecodable (RFC 5452)'],
  ['truncated', 'replies with TC=1, each retried over TCP'],
  ['tcpQueries', 'queries sent over TCP'],
  ['tcpFailures', 'TCP exchanges that failed'],
  ['errorReplies', 'SERVFAIL, NOTIMP, REFUSED or FORMERR replies that moved on to the next server'],
  ['ednsFallbacks', 'queries repeated without EDNS (RFC 6891 §6.2.2)'],
  ['rfc4074', 'AAAA misbehaviour worked around (RFC 4074)'],
];

export class DnsModule implements ProtocolModule<DnsConfig> {
  readonly name = 'dns';
  private ctx: ModuleContext | null = null;
  private config: DnsConfig = DNS_DEFAULTS;
  private resolver: Resolver | null = null;
  private cache: DnsCache | null = null;
  private forwarder: Forwarder | null = null;
  private udp: Unsubscribe | null = null;
  private tcp: TcpListener | null = null;
  /** Why the TCP listener is not running while the forwarder is on, if it failed. */
  private tcpError: string | null = null;
  /** Queries the module dropped before the forwarder saw them, and handler failures. */
  private readonly dropped: Record<string, number> = {};

  async start(ctx: ModuleContext, config: DnsConfig): Promise<void> {
    this.ctx = ctx;
    this.config = config;
    const resolver = new Resolver({ clock: ctx.api.clock, transport: new HostTransport() }, resolverConfig(config, this.upstreamServers()));
    this.resolver = resolver;
    const cache = new DnsCache(ctx.api.clock, config.forwarder?.cache ?? CACHE_DEFAULTS);
    this.cache = cache;
    this.forwarder = new Forwarder(
      {
        clock: ctx.api.clock,
        cache,
        upstream: {
          query: (name, type) => {
            this.refreshServers();
            return resolver.query(name, type);
          },
          countRfc4074: (server) => resolver.statsFor(server).rfc4074++,
        },
        ownPrefixes: () => this.ownPrefixes(),
        debug: (obj, msg) => ctx.log.debug(obj, msg),
      },
      forwarderSettings(config.forwarder),
    );
    ctx.commands.register(['resolve'], async (_req, rest) => this.resolve(ctx, rest), 'resolve NAME [TYPE] with the configured DNS servers (no TYPE: AAAA and A, in RFC 6724 order)');
    ctx.commands.register(['show', 'dns', 'cache'], () => this.showCache(), "the forwarder's cache entries, least recently used first, with the seconds left");
    ctx.commands.register(['show', 'dns', 'upstreams'], () => this.showUpstreams(), 'the upstream DNS servers in the order they are asked (config, then learned), with their counters');
    ctx.commands.register(['show', 'dns', 'stats'], () => this.showStats(), "the forwarder's counters: queries by type, replies by rcode, cache, refused, truncated, malformed");
    ctx.commands.register(['clear', 'dns', 'cache'], () => this.clearCache(), "empty the forwarder's cache");
    this.registerMetrics(ctx);
    await this.listen();
  }

  prepareReconfigure(next: DnsConfig): () => Promise<void> {
    return async () => {
      this.config = next;
      this.resolver?.reconfigure(resolverConfig(next, this.upstreamServers()));
      this.cache?.reconfigure(next.forwarder?.cache ?? CACHE_DEFAULTS);
      this.forwarder?.reconfigure(forwarderSettings(next.forwarder));
      await this.listen();
    };
  }

  stop(): void {
    this.unlisten();
    this.resolver = null;
    this.forwarder = null;
    this.ctx = null;
  }

  status(): ModuleStatus {
    const servers = (this.resolver?.servers ?? []).map(formatDnsServer);
    const stats = Object.fromEntries(this.resolver?.serverStats() ?? []);
    return { data: { servers, stats, forwarder: this.forwarderState() }, text: `dns: servers ${servers.join(' ') || '-'}; forwarder ${this.udp === null ? 'off' : 'on'}` };
  }

  /** `dns.servers`, then the DHCPv6-learned servers that a host socket can reach, without duplicates. */
  private upstreamServers(): DnsServer[] {
    const out = configuredServers(this.config);
    const seen = new Set(out.map(formatDnsServer));
    for (const info of this.ctx?.api.dnsServers?.() ?? []) {
      for (const a of info.servers) {
        if (isLinkLocal(a) || isMulticast(a)) continue;
        const s: DnsServer = { address: formatIpv6(a), port: DNS_PORT };
        if (seen.has(formatDnsServer(s))) continue;
        seen.add(formatDnsServer(s));
        out.push(s);
      }
    }
    return out;
  }

  private refreshServers(): void {
    const r = this.resolver;
    if (r === null) return;
    const next = this.upstreamServers();
    if (next.map(formatDnsServer).join(' ') !== r.servers.map(formatDnsServer).join(' ')) r.reconfigure(resolverConfig(this.config, next));
  }

  /** The on-link prefixes of the router's own addresses, link-local ones included. */
  private ownPrefixes(): Prefix[] {
    return (this.ctx?.api.interfaces() ?? []).flatMap((i) => i.addresses.map((a) => ({ addr: maskAddress(a.addr, a.prefixLen), len: a.prefixLen })));
  }

  /** Brings the listeners in line with `dns.forwarder.enabled`. */
  private async listen(): Promise<void> {
    const ctx = this.ctx;
    const on = this.config.forwarder?.enabled === true;
    if (!on) return this.unlisten();
    if (ctx === null || this.udp !== null) return;
    this.udp = ctx.api.bindUdp(DNS_PORT, (d) => this.onUdp(ctx, d));
    const tcp = new TcpListener((bytes, client) => this.answer(ctx, bytes, client, 'tcp'));
    try {
      await tcp.listen(DNS_PORT);
      this.tcp = tcp;
      this.tcpError = null;
    } catch (e) {
      this.tcpError = e instanceof Error ? e.message : String(e);
      ctx.log.warn({ err: this.tcpError }, 'DNS forwarder: cannot listen on TCP port 53; answering over UDP only (truncated answers cannot be fetched)');
    }
    ctx.log.info({ tcp: this.tcp !== null }, 'DNS forwarder listening on port 53');
  }

  private unlisten(): void {
    this.udp?.();
    this.udp = null;
    this.tcp?.close();
    this.tcp = null;
    this.tcpError = null;
  }

  private onUdp(ctx: ModuleContext, d: ReceivedUdp): void {
    // Queries to a group address are not for a unicast DNS server (and must not be answered from it).
    if (isMulticast(d.dst)) return void (this.dropped['multicast'] = (this.dropped['multicast'] ?? 0) + 1);
    void this.answer(ctx, d.payload, d.src, 'udp').then((reply) => {
      // From the address the query was sent to, so the client accepts it (RFC 5452 §9.1).
      if (reply !== null) ctx.api.sendUdp({ port: d.port, src: d.dst, dst: d.src, srcPort: DNS_PORT, dstPort: d.srcPort, payload: reply });
    });
  }

  private async answer(ctx: ModuleContext, bytes: Uint8Array, client: Uint8Array, via: 'udp' | 'tcp'): Promise<Uint8Array | null> {
    const f = this.forwarder;
    if (f === null) return null;
    try {
      return await f.handle(bytes, client, via);
    } catch (e) {
      this.dropped['internal-error'] = (this.dropped['internal-error'] ?? 0) + 1;
      ctx.limited('dns.forwarder-error').warn({ err: e instanceof Error ? e.message : String(e) }, 'DNS forwarder: query dropped on an internal error');
      return null;
    }
  }

  private forwarderState(): object {
    const f = this.config.forwarder;
    return {
      enabled: this.udp !== null,
      udp: this.udp !== null,
      tcp: this.tcp !== null,
      tcpError: this.tcpError,
      tcpConnections: this.tcp?.connections ?? 0,
      tcpRefused: this.tcp?.refusedConnections ?? 0,
      allow: f?.allow ?? this.ownPrefixes().map((p) => `${formatIpv6(p.addr)}/${p.len}`),
      localDomain: f?.localDomain ?? null,
      localRecords: this.forwarder?.localData.size ?? 0,
    };
  }

  private showCache(): ModuleStatus {
    const entries = (this.cache?.list() ?? []).map((e) => ({ ...e, type: dnsTypeName(e.type), rcode: dnsRcodeName(e.rcode) }));
    const rows = entries.map((e) => `${e.name}  ${e.type}  ${e.negative ? (e.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : 'NODATA') : `${e.records} records`}  ${e.ttlLeft >= 0 ? `ttl ${e.ttlLeft}` : `stale ${-e.ttlLeft}s`}  hits ${e.hits}`);
    return { data: { size: entries.length, capacity: this.cache === null ? 0 : (this.config.forwarder?.cache ?? CACHE_DEFAULTS).size, entries }, text: [`${entries.length} entries`, ...rows].join('\n') };
  }

  private showUpstreams(): ModuleStatus {
    this.refreshServers();
    const configured = new Set(configuredServers(this.config).map(formatDnsServer));
    const upstreams = (this.resolver?.servers ?? []).map((s) => {
      const key = formatDnsServer(s);
      return { server: key, source: configured.has(key) ? 'config' : 'dhcpv6', ...(this.resolver?.serverStats().get(key) ?? {}) };
    });
    const rows = upstreams.map((u) => `${u.server}  (${u.source})  queries ${'queries' in u ? u.queries : 0}  timeouts ${'timeouts' in u ? u.timeouts : 0}`);
    return { data: upstreams, text: rows.length === 0 ? 'no upstream DNS servers (dns.servers, or learned by the DHCPv6 client)' : rows.join('\n') };
  }

  private showStats(): ModuleStatus {
    const f = this.forwarder;
    const data = { forwarder: this.forwarderState(), stats: f?.stats ?? null, dropped: this.dropped, cache: { entries: this.cache?.size ?? 0, ...this.cache?.stats } };
    const line = (title: string, m: Record<string, number> | undefined) => `${title}: ${Object.entries(m ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || '-'}`;
    const s = f?.stats;
    const c = this.cache?.stats;
    const text = [
      `forwarder: ${this.udp === null ? 'off' : `on (UDP${this.tcp === null ? '' : ' and TCP'})`}`,
      line('queries', s?.queries),
      line('replies', s?.replies),
      `refused ${s?.refused ?? 0}, truncated ${s?.truncated ?? 0}, local ${s?.local ?? 0}, from cache ${s?.cached ?? 0}, stale ${s?.stale ?? 0}`,
      `upstream: queries ${s?.upstreamQueries ?? 0}, failures ${s?.upstreamFailures ?? 0}, deduplicated ${s?.deduplicated ?? 0}, rfc4074 ${s?.rfc4074 ?? 0}`,
      `cache: ${this.cache?.size ?? 0} entries, hits ${c?.hits ?? 0}, misses ${c?.misses ?? 0}, evictions ${c?.evictions ?? 0}, prefetches ${c?.prefetches ?? 0}`,
      line('malformed', s?.malformed),
      line('dropped', { ...s?.dropped, ...this.dropped }),
    ];
    return { data, text: text.join('\n') };
  }

  private clearCache(): ModuleStatus {
    const n = this.cache?.clear() ?? 0;
    this.ctx?.log.info({ entries: n }, 'DNS cache cleared');
    return { data: { cleared: n }, text: `cleared ${n} entries` };
  }

  private registerMetrics(ctx: ModuleContext): void {
    const resolver = this.resolver!;
    ctx.metrics.counter(
      { name: 'dns_resolver_events_total', help: "The stub resolver's events per upstream server, by kind", labelNames: ['server', 'event'] },
      (emit) => {
        for (const [server, s] of resolver.serverStats()) for (const [key] of STAT_KEYS) emit({ server, event: key }, s[key]);
      },
    );
    const byLabel = (label: string, get: () => Record<string, number> | undefined) => (emit: (l: Record<string, string>, v: number) => void) => {
      for (const [k, v] of Object.entries(get() ?? {})) emit({ [label]: k }, v);
    };
    ctx.metrics.counter({ name: 'dns_forwarder_queries_total', help: 'Queries the DNS forwarder decoded, by type', labelNames: ['type'] }, byLabel('type', () => this.forwarder?.stats.queries));
    ctx.metrics.counter({ name: 'dns_forwarder_replies_total', help: 'Replies the DNS forwarder sent, by rcode', labelNames: ['rcode'] }, byLabel('rcode', () => this.forwarder?.stats.replies));
    ctx.metrics.counter({ name: 'dns_forwarder_malformed_total', help: 'Queries answered FORMERR or BADVERS, by reason', labelNames: ['reason'] }, byLabel('reason', () => this.forwarder?.stats.malformed));
    ctx.metrics.counter({ name: 'dns_forwarder_dropped_total', help: 'Datagrams to port 53 dropped without a reply, by reason', labelNames: ['reason'] }, byLabel('reason', () => ({ ...this.forwarder?.stats.dropped, ...this.dropped })));
    const answered = () => {
      const s = this.forwarder?.stats;
      return { refused: s?.refused ?? 0, truncated: s?.truncated ?? 0, local: s?.local ?? 0, cache: s?.cached ?? 0, stale: s?.stale ?? 0 };
    };
    ctx.metrics.counter(
      { name: 'dns_forwarder_answers_total', help: 'DNS forwarder replies by how they were made: refused, truncated (TC=1), local data, cache, stale (RFC 8767)', labelNames: ['kind'] },
      byLabel('kind', answered),
    );
    ctx.metrics.counter(
      { name: 'dns_forwarder_upstream_total', help: "The DNS forwarder's upstream exchanges: queries, failures, deduplicated waits, RFC 4074 workarounds", labelNames: ['event'] },
      byLabel('event', () => {
        const s = this.forwarder?.stats;
        return { queries: s?.upstreamQueries ?? 0, failures: s?.upstreamFailures ?? 0, deduplicated: s?.deduplicated ?? 0, prefetches: s?.prefetches ?? 0, rfc4074: s?.rfc4074 ?? 0 };
      }),
    );
    ctx.metrics.counter({ name: 'dns_forwarder_upstream_seconds_total', help: 'Time spent in answered upstream exchanges (with dns_forwarder_upstream_answers_total: the mean latency)' }, (emit) => emit({}, (this.forwarder?.stats.upstreamMs ?? 0) / 1000));
    ctx.metrics.counter({ name: 'dns_forwarder_upstream_answers_total', help: 'Upstream exchanges that got an answer' }, (emit) => emit({}, this.forwarder?.stats.upstreamAnswers ?? 0));
    ctx.metrics.counter(
      { name: 'dns_cache_events_total', help: "The DNS forwarder's cache: hits, misses, inserts, evictions (LRU), expired, stale served, prefetches", labelNames: ['event'] },
      byLabel('event', () => {
        const c = this.cache?.stats;
        return c === undefined ? undefined : { hits: c.hits, misses: c.misses, inserts: c.inserts, evictions: c.evictions, expired: c.expired, stale: c.staleServed, prefetches: c.prefetches };
      }),
    );
    ctx.metrics.gauge({ name: 'dns_cache_entries', help: "Entries in the DNS forwarder's cache" }, (emit) => emit({}, this.cache?.size ?? 0));
  }

  private async resolve(ctx: ModuleContext, rest: string[]): Promise<ModuleStatus> {
    const resolver = this.resolver;
    if (resolver === null) throw new Error('the DNS module is not running');
    if (rest.length < 1 || rest.length > 2) throw new Error('usage: resolve NAME [TYPE]');
    const [name, typeText] = rest as [string, string | undefined];
    this.refreshServers();
    if (resolver.servers.length === 0) throw new Error('no DNS servers are configured (dns.servers in the config) or learned (DHCPv6)');
    if (typeText === undefined) {
      const r = await lookup(resolver, name);
      ctx.log.debug({ name, result: r }, 'resolve');
      if (!r.ok) throw new Error(`${name}: ${r.reason}: ${r.detail}`);
      const rows = r.addresses.map((a) => `${a.address}  (ttl ${a.ttl})`);
      const head = r.canonicalName === name ? name : `${name} is an alias for ${r.canonicalName}`;
      return { data: r, text: [head, ...rows, ...(r.rfc4074 === null ? [] : [`note: the server misbehaves on AAAA (RFC 4074): ${r.rfc4074}`])].join('\n') };
    }
    const type = parseDnsType(typeText);
    if (type === null) throw new Error(`unknown record type ${JSON.stringify(typeText)}: a mnemonic like AAAA, PTR, MX, or TYPEnnn`);
    const o = await resolver.query(name, type);
    ctx.log.debug({ name, type: typeText, ok: o.ok }, 'resolve');
    if (!o.ok) throw new Error(`${name} ${dnsTypeName(type)}: ${o.reason}: ${o.detail}`);
    const m = o.message;
    const records = (section: typeof m.answers) => section.map((rr) => ({ name: rr.name, ttl: rr.ttl, type: dnsTypeName(rr.type), data: formatRdata(rr.rdata) }));
    const data = {
      name,
      type: dnsTypeName(type),
      rcode: dnsRcodeName(m.rcode),
      server: formatDnsServer(o.server),
      transport: o.transport,
      edns: o.edns,
      flags: { aa: m.aa, tc: m.tc, rd: m.rd, ra: m.ra, ad: m.ad },
      answers: records(m.answers),
      authorities: records(m.authorities),
    };
    const lines = [
      `${dnsRcodeName(m.rcode)} from ${data.server} over ${o.transport.toUpperCase()}${o.edns ? ' with EDNS0' : ''}${m.rcode === DNS_RCODE.NOERROR && m.answers.length === 0 ? ' (no data)' : ''}`,
      ...data.answers.map((a) => `${a.name}  ${a.ttl}  ${a.type}  ${a.data}`),
      ...(m.answers.length === 0 ? data.authorities.map((a) => `; authority: ${a.name}  ${a.ttl}  ${a.type}  ${a.data}`) : []),
    ];
    return { data, text: lines.join('\n') };
  }
}
