/**
 * The `dns` module: the appliance's stub resolver (resolver.ts) on host sockets, with the
 * servers from the `dns` config section, and `turtle6ctl resolve NAME [TYPE]`: without a
 * type, getaddrinfo's AAAA-and-A lookup in RFC 6724 order; with one, that query's answer.
 * Per-server counters are metrics. It always runs: with no servers, resolve says so.
 */
import { dnsRcodeName, dnsTypeName, DNS_RCODE, formatRdata, parseDnsType } from '../../wire/dns.js';
import type { ModuleContext, ModuleStatus, ProtocolModule } from '../module.js';
import { HostTransport } from './host-transport.js';
import { lookup } from './lookup.js';
import { Resolver, type ResolverConfig, type ServerStats } from './resolver.js';
import { formatDnsServer, parseDnsServer, type DnsServer } from './transport.js';

export interface DnsConfig {
  /** Server strings as parseDnsServer reads them (the config section checked them). */
  readonly servers: readonly string[];
  readonly timeout: number;
  readonly attempts: number;
  readonly ednsUdpSize: number;
}

export const DNS_DEFAULTS: DnsConfig = { servers: [], timeout: 5, attempts: 2, ednsUdpSize: 1232 };

function resolverConfig(c: DnsConfig): ResolverConfig {
  const servers = c.servers.map((s) => parseDnsServer(s)).filter((s): s is DnsServer => typeof s !== 'string');
  return { servers, timeoutMs: c.timeout * 1000, attempts: c.attempts, ednsUdpSize: c.ednsUdpSize };
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
  private resolver: Resolver | null = null;

  start(ctx: ModuleContext, config: DnsConfig): void {
    const resolver = new Resolver({ clock: ctx.api.clock, transport: new HostTransport() }, resolverConfig(config));
    this.resolver = resolver;
    ctx.commands.register(['resolve'], async (_req, rest) => this.resolve(ctx, rest), 'resolve NAME [TYPE] with the configured DNS servers (no TYPE: AAAA and A, in RFC 6724 order)');
    ctx.metrics.counter(
      { name: 'dns_resolver_events_total', help: "The stub resolver's events per upstream server, by kind", labelNames: ['server', 'event'] },
      (emit) => {
        for (const [server, s] of resolver.serverStats()) for (const [key] of STAT_KEYS) emit({ server, event: key }, s[key]);
      },
    );
  }

  prepareReconfigure(next: DnsConfig): () => void {
    return () => this.resolver?.reconfigure(resolverConfig(next));
  }

  stop(): void {
    this.resolver = null;
  }

  status(): ModuleStatus {
    const servers = (this.resolver?.servers ?? []).map(formatDnsServer);
    const stats = Object.fromEntries(this.resolver?.serverStats() ?? []);
    return { data: { servers, stats }, text: `dns: servers ${servers.join(' ') || '-'}` };
  }

  private async resolve(ctx: ModuleContext, rest: string[]): Promise<ModuleStatus> {
    const resolver = this.resolver;
    if (resolver === null) throw new Error('the DNS module is not running');
    if (rest.length < 1 || rest.length > 2) throw new Error('usage: resolve NAME [TYPE]');
    const [name, typeText] = rest as [string, string | undefined];
    if (resolver.servers.length === 0) throw new Error('no DNS servers are configured (dns.servers in the config)');
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
