/**
 * `dns`: the appliance's own stub resolver (src/protocols/dns): where it sends queries and
 * how long it waits, as resolv.conf's nameserver, timeout, attempts and edns0 (docs/dns.md
 * maps each one). Absent: no servers, and `turtle6ctl resolve` says so. `dns.forwarder`
 * turns on the caching forwarder that answers LAN hosts on port 53 (forwarder.ts).
 */
import { z } from 'zod';
import { parseIpv6 } from '../../lib/addr.js';
import { CACHE_DEFAULTS } from '../../protocols/dns/cache.js';
import { localRdata } from '../../protocols/dns/local.js';
import { formatDnsServer, parseDnsServer } from '../../protocols/dns/transport.js';
import { canonicalDnsName } from '../../wire/dns.js';
import { domainName, flag, intInRange, ipv6NetworkPrefix, listOf } from '../fields.js';
import { defineSection } from '../registry.js';

const EXPECTED_SERVER = 'an IPv6 DNS server like 2001:db8::53, [2001:db8::53]:5353 or fe80::1%eth0';

function dnsServer(): z.ZodType<string, string> {
  return z.string({ error: EXPECTED_SERVER }).transform((s, ctx) => {
    const p = parseDnsServer(s);
    if (typeof p !== 'string') return formatDnsServer(p);
    ctx.addIssue({ code: 'custom', message: `${EXPECTED_SERVER} (${p})` });
    return z.NEVER;
  });
}

const TTL_MAX = 604_800;
const ttl = (what: string) => intInRange(0, TTL_MAX, ` seconds (${what})`);

const cacheSchema = z
  .strictObject({
    /** Entries kept; the least recently used goes first. 0: no cache. */
    size: intInRange(0, 1_000_000, ' entries').default(CACHE_DEFAULTS.size),
    minTtl: ttl('TTLs below are raised to it').default(CACHE_DEFAULTS.minTtl),
    maxTtl: ttl('TTLs above are lowered to it').default(CACHE_DEFAULTS.maxTtl),
    negativeMaxTtl: ttl('NXDOMAIN and NODATA are kept at most this long').default(CACHE_DEFAULTS.negativeMaxTtl),
    serveStale: flag().default(CACHE_DEFAULTS.serveStale),
    staleMaxAge: intInRange(1, TTL_MAX, ' seconds after expiry').default(CACHE_DEFAULTS.staleMaxAge),
    prefetch: flag().default(CACHE_DEFAULTS.prefetch),
  })
  .superRefine((c, ctx) => {
    if (c.minTtl > c.maxTtl) ctx.addIssue({ code: 'custom', path: ['minTtl'], message: `at most maxTtl (${c.maxTtl})` });
  });

const EXPECTED_OWNER = 'a domain name like printer.lan.example (for PTR also an IPv6 address, or its ip6.arpa name)';

/** A PTR record's owner written as the address it maps (local.ts makes it the ip6.arpa name). */
function ownerIsAddress(r: { name: string; type: string }): boolean {
  return r.type === 'PTR' && r.name.includes(':') && parseIpv6(r.name) !== null;
}

const recordSchema = z
  .strictObject({
    name: z.string({ error: EXPECTED_OWNER }),
    type: z.enum(['AAAA', 'A', 'PTR', 'TXT'], { error: 'AAAA, A, PTR or TXT' }),
    data: z.string({ error: 'the record data: an address for AAAA and A, a domain name for PTR, text for TXT' }),
    ttl: ttl('the TTL in answers').default(300),
  })
  .superRefine((r, ctx) => {
    if (!ownerIsAddress(r) && canonicalDnsName(r.name) === null) ctx.addIssue({ code: 'custom', path: ['name'], message: EXPECTED_OWNER });
    if (r.type === 'PTR' && canonicalDnsName(r.data) === null) ctx.addIssue({ code: 'custom', path: ['data'], message: 'a domain name like printer.lan.example' });
    const rd = localRdata(r);
    if (typeof rd === 'string') ctx.addIssue({ code: 'custom', path: ['data'], message: rd });
  })
  .transform((r) => ({
    ...r,
    name: ownerIsAddress(r) ? r.name : canonicalDnsName(r.name)!.toLowerCase(),
    data: r.type === 'PTR' ? canonicalDnsName(r.data)! : r.data,
  }));

const forwarderSchema = z.strictObject({
  enabled: flag().default(true),
  /** Client prefixes; absent: the prefixes of the router's own addresses. */
  allow: listOf(ipv6NetworkPrefix(), 'IPv6 prefixes').optional(),
  cache: cacheSchema.default(() => ({ ...CACHE_DEFAULTS })),
  /** Names under it that have no local records are NXDOMAIN, never asked upstream. */
  localDomain: domainName().optional(),
  records: listOf(recordSchema, 'records like { name: printer.lan.example, type: AAAA, data: 2001:db8:1::20 }').default([]),
});

export const dnsSection = defineSection(
  'dns',
  z
    .strictObject({
      servers: listOf(dnsServer(), 'DNS servers').default([]),
      /** Seconds: the first round's wait per server (resolv.conf `timeout`). */
      timeout: intInRange(1, 30, ' seconds').default(5),
      /** Rounds through the server list (resolv.conf `attempts`). */
      attempts: intInRange(1, 5).default(2),
      /** EDNS0 UDP payload size (RFC 6891); 0 sends no OPT. */
      ednsUdpSize: z.union([z.literal(0), intInRange(512, 4096)], { error: '0 (no EDNS) or 512 to 4096 bytes' }).default(1232),
      /** The caching forwarder on port 53; absent: off. */
      forwarder: forwarderSchema.optional(),
    })
    .optional(),
  {
    summary: "The appliance's own DNS stub resolver (servers, timeout, attempts, EDNS0 size), used by turtle6ctl resolve, and the caching forwarder that answers LAN hosts on port 53.",
    reload: { kind: 'in-place' },
  },
);

export type DnsSection = NonNullable<z.output<typeof dnsSection.schema>>;
export type DnsForwarderSection = NonNullable<DnsSection['forwarder']>;
