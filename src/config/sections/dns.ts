/**
 * `dns`: the appliance's own stub resolver (src/protocols/dns): where it sends queries and
 * how long it waits, as resolv.conf's nameserver, timeout, attempts and edns0 (docs/dns.md
 * maps each one). Absent: no servers, and `turtle6ctl resolve` says so.
 */
import { z } from 'zod';
import { formatDnsServer, parseDnsServer } from '../../protocols/dns/transport.js';
import { intInRange, listOf } from '../fields.js';
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
    })
    .optional(),
  {
    summary: "The appliance's own DNS stub resolver (servers, timeout, attempts, EDNS0 size), used by turtle6ctl resolve.",
    reload: { kind: 'in-place' },
  },
);

export type DnsSection = NonNullable<z.output<typeof dnsSection.schema>>;
