/**
 * `dhcpv6`: the DHCPv6 server (RFC 8415 §18.3) and the relay agent (§19). Each part is
 * optional; the section absent means DHCPv6 is off.
 */
import { z } from 'zod';
import { parseIpv6, parsePrefix } from '../../lib/addr.js';
import { parseDuid } from '../../wire/dhcpv6.js';
import { domainName, flag, intInRange, interfaceName, ipv6NetworkPrefix, ipv6UnicastAddress, listOf } from '../fields.js';
import { defineSection } from '../registry.js';

const UINT32_MAX = 0xffff_ffff;

function duidText(): z.ZodType<string, string> {
  const expected = 'a DUID in colon hex like 00:01:00:01:aa:bb:cc:dd:02:00:00:00:00:01 (RFC 8415 §11)';
  return z
    .string({ error: expected })
    .refine((s) => parseDuid(s) !== null, { error: expected })
    .transform((s) => s.toLowerCase().replace(/-/g, ':'));
}

const addressPoolSchema = z
  .strictObject({ start: ipv6UnicastAddress(), end: ipv6UnicastAddress() })
  .superRefine((p, ctx) => {
    const a = parseIpv6(p.start);
    const b = parseIpv6(p.end);
    if (a && b && Buffer.compare(Buffer.from(a), Buffer.from(b)) > 0) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: `an address not below start (${p.start})` });
    }
  });

const prefixPoolSchema = z
  .strictObject({ prefix: ipv6NetworkPrefix(), delegatedLength: intInRange(1, 64) })
  .superRefine((p, ctx) => {
    const len = parsePrefix(p.prefix)?.len ?? 0;
    if (p.delegatedLength < len) ctx.addIssue({ code: 'custom', path: ['delegatedLength'], message: `a length of at least the pool's /${len}` });
    if (p.delegatedLength - len > 24) ctx.addIssue({ code: 'custom', path: ['delegatedLength'], message: `at most /${len + 24}: a pool of more than 2^24 prefixes is a typo` });
  });

const serverInterfaceSchema = z.strictObject({
  name: interfaceName(),
  addressPool: addressPoolSchema.optional(),
  prefixPool: prefixPoolSchema.optional(),
  /** §21.8; 255 makes clients take this server at once. */
  preference: intInRange(0, 255).default(0),
  rapidCommit: flag().default(false),
  /** §21.12: let clients unicast to the interface's global address. */
  unicast: flag().default(false),
});

const reservationSchema = z.strictObject({
  duid: duidText(),
  address: ipv6UnicastAddress().optional(),
  prefix: ipv6NetworkPrefix().optional(),
});

const serverSchema = z
  .strictObject({
    interfaces: listOf(serverInterfaceSchema, 'server interfaces', 1),
    preferredLifetime: intInRange(1, UINT32_MAX, ' seconds').default(1800),
    validLifetime: intInRange(1, UINT32_MAX, ' seconds').default(3600),
    /** §21.4: 0 lets the server choose (0.5 and 0.8 × preferred, §14.2). */
    t1: intInRange(0, UINT32_MAX, ' seconds').default(0),
    t2: intInRange(0, UINT32_MAX, ' seconds').default(0),
    dnsServers: listOf(ipv6UnicastAddress(), 'IPv6 addresses').default([]),
    domains: listOf(domainName(), 'domain names').default([]),
    reservations: listOf(reservationSchema, 'reservations').default([]),
  })
  .superRefine((s, ctx) => {
    if (s.preferredLifetime > s.validLifetime) ctx.addIssue({ code: 'custom', path: ['preferredLifetime'], message: `at most validLifetime (${s.validLifetime})` });
    if (s.t1 !== 0 && s.t2 !== 0 && s.t1 > s.t2) ctx.addIssue({ code: 'custom', path: ['t1'], message: `at most t2 (${s.t2}) (RFC 8415 §21.4)` });
  });

const relaySchema = z.strictObject({
  /** Client-facing interfaces. */
  interfaces: listOf(interfaceName(), 'interface names', 1),
  upstream: interfaceName(),
  /** Unicast server addresses; none means All_DHCP_Relay_Agents_and_Servers (ff02::1:2) on `upstream`. */
  servers: listOf(ipv6UnicastAddress(), 'IPv6 addresses').default([]),
});

export const dhcpv6Section = defineSection(
  'dhcpv6',
  z
    .strictObject({
      enabled: flag().default(true),
      server: serverSchema.optional(),
      relay: relaySchema.optional(),
    })
    .optional(),
  {
    summary: 'DHCPv6 server (address and prefix pools) and relay agent.',
    reload: { kind: 'restart-module', module: 'dhcpv6 (leases are durable, so a restart keeps them)' },
  },
  (cfg, ctx) => {
    if (cfg === undefined) return;
    const check = (path: Array<string | number>, name: string) => {
      if (!ctx.interfaceNames.has(name)) ctx.report(path, `the name of a configured interface (${[...ctx.interfaceNames].join(', ')})`);
    };
    cfg.server?.interfaces.forEach((i, n) => check(['server', 'interfaces', n, 'name'], i.name));
    if (cfg.relay) {
      cfg.relay.interfaces.forEach((name, n) => check(['relay', 'interfaces', n], name));
      check(['relay', 'upstream'], cfg.relay.upstream);
      const served = new Set(cfg.server?.interfaces.map((i) => i.name) ?? []);
      cfg.relay.interfaces.forEach((name, n) => {
        if (served.has(name)) ctx.report(['relay', 'interfaces', n], `an interface the server does not also serve (${name} is in server.interfaces)`);
      });
    }
  },
);

export type Dhcpv6Config = NonNullable<z.output<typeof dhcpv6Section.schema>>;
export type Dhcpv6ServerConfig = NonNullable<Dhcpv6Config['server']>;
export type Dhcpv6RelayConfig = NonNullable<Dhcpv6Config['relay']>;
