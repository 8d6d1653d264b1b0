/**
 * `dhcpv6`: the DHCPv6 server (RFC 8415 §18.3), the relay agent (§19) and the client
 * (§18.2) with prefix delegation on a WAN interface. Each part is
 * optional; the section absent means DHCPv6 is off.
 */
import { z } from 'zod';
import { addressToBigInt, formatIpv6, parseIpv6, parsePrefix, prefixContains } from '../../lib/addr.js';
import { parseDuid } from '../../wire/dhcpv6.js';
import { absolutePath, domainName, flag, intInRange, interfaceName, ipv6NetworkPrefix, ipv6UnicastAddress, listOf } from '../fields.js';
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

/** An interface identifier written as an address whose upper 64 bits are zero, like ::1000. */
function interfaceIdentifier(): z.ZodType<string, string> {
  const expected = 'an interface identifier written as an address with the upper 64 bits zero, like ::1000';
  return z
    .string({ error: expected })
    .refine((s) => {
      const a = parseIpv6(s);
      return a !== null && a.subarray(0, 8).every((b) => b === 0) && a.subarray(8).some((b) => b !== 0);
    }, { error: expected })
    .transform((s) => formatIpv6(parseIpv6(s)!));
}

/**
 * Addresses out of the /64 the router's own client puts on this interface from its
 * delegated prefix (`client.prefixInterfaces`): the interface identifiers start..end.
 */
const delegatedPoolSchema = z
  .strictObject({ start: interfaceIdentifier(), end: interfaceIdentifier() })
  .superRefine((p, ctx) => {
    const start = parseIpv6(p.start);
    const end = parseIpv6(p.end);
    // Only two valid identifiers are compared: a bad one has its own error already.
    if (start === null || end === null || start.subarray(0, 8).some((b) => b !== 0) || end.subarray(0, 8).some((b) => b !== 0)) return;
    if (Buffer.compare(Buffer.from(start), Buffer.from(end)) > 0) {
      ctx.addIssue({ code: 'custom', path: ['end'], message: `an interface identifier not below start (${p.start})` });
    }
  });

const serverInterfaceSchema = z.strictObject({
  name: interfaceName(),
  addressPool: addressPoolSchema.optional(),
  prefixPool: prefixPoolSchema.optional(),
  /** IA_NA addresses from the /64 of the client's delegated prefix on this interface (issue 5). */
  delegatedPool: delegatedPoolSchema.optional(),
  /** §21.8; 255 makes clients take this server at once. */
  preference: intInRange(0, 255).default(0),
  rapidCommit: flag().default(false),
  /** §21.12: let clients unicast to the interface's global address. */
  unicast: flag().default(false),
});

/**
 * A link the server serves through relays (RFC 8415 §19.1.1): a Relay-forw whose innermost
 * link-address falls in `prefix` is served from these pools, as Kea's subnet6 and dhcp6s's
 * link matching do.
 */
const serverSubnetSchema = z
  .strictObject({
    prefix: ipv6NetworkPrefix(),
    addressPool: addressPoolSchema.optional(),
    prefixPool: prefixPoolSchema.optional(),
    preference: intInRange(0, 255).default(0),
    rapidCommit: flag().default(false),
  })
  .superRefine((s, ctx) => {
    const p = parsePrefix(s.prefix);
    if (p === null || s.addressPool === undefined) return;
    for (const end of ['start', 'end'] as const) {
      const a = parseIpv6(s.addressPool[end]);
      if (a !== null && !prefixContains(p, a)) ctx.addIssue({ code: 'custom', path: ['addressPool', end], message: `an address inside the subnet's ${s.prefix}` });
    }
  });

/**
 * A delayed-authentication key (RFC 3315 §21.4, WIDE's `keyinfo`): the realm and key ID
 * travel in every authenticated message; the secret, base64 as in WIDE's `secret "…"`,
 * stays in a file of its own so the config can be shared without it. The file is read when
 * the module starts, so that a config can be checked where the secret is not installed.
 */
const keySchema = z.strictObject({
  name: z.string({ error: 'a key name of letters, digits, _ . -' }).regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: 'a key name of letters, digits, _ . -' }),
  realm: z.string({ error: 'the realm, a non-empty string like "turtle6.example"' }).min(1, { error: 'the realm, a non-empty string like "turtle6.example"' }),
  keyId: intInRange(0, UINT32_MAX),
  /** Read when the module starts (a missing or non-base64 file stops it with the file's name). */
  secretFile: absolutePath(),
});

const reservationSchema = z.strictObject({
  duid: duidText(),
  address: ipv6UnicastAddress().optional(),
  prefix: ipv6NetworkPrefix().optional(),
  /** The `keys[].name` this client authenticates with (WIDE's `delayedkey` in a `host`). */
  key: z.string({ error: 'the name of a key in dhcpv6.keys' }).optional(),
});

const serverSchema = z
  .strictObject({
    /** Links the server is attached to. */
    interfaces: listOf(serverInterfaceSchema, 'server interfaces').default([]),
    /** Links behind relays, by prefix. */
    subnets: listOf(serverSubnetSchema, 'subnets').default([]),
    preferredLifetime: intInRange(1, UINT32_MAX, ' seconds').default(1800),
    validLifetime: intInRange(1, UINT32_MAX, ' seconds').default(3600),
    /** §21.4: 0 lets the server choose (0.5 and 0.8 × preferred, §14.2). */
    t1: intInRange(0, UINT32_MAX, ' seconds').default(0),
    t2: intInRange(0, UINT32_MAX, ' seconds').default(0),
    dnsServers: listOf(ipv6UnicastAddress(), 'IPv6 addresses').default([]),
    domains: listOf(domainName(), 'domain names').default([]),
    reservations: listOf(reservationSchema, 'reservations').default([]),
    /** RFC 8415 §18.3.11: offer Reconfigure to clients that send Reconfigure Accept. */
    reconfigure: flag().default(true),
  })
  .superRefine((s, ctx) => {
    if (s.preferredLifetime > s.validLifetime) ctx.addIssue({ code: 'custom', path: ['preferredLifetime'], message: `at most validLifetime (${s.validLifetime})` });
    if (s.t1 !== 0 && s.t2 !== 0 && s.t1 > s.t2) ctx.addIssue({ code: 'custom', path: ['t1'], message: `at most t2 (${s.t2}) (RFC 8415 §21.4)` });
    if (s.interfaces.length === 0 && s.subnets.length === 0) ctx.addIssue({ code: 'custom', path: ['interfaces'], message: 'at least one server interface or subnet' });
    reportOverlaps(ctx, [
      ...s.subnets.map((n, i) => ({ path: ['subnets', i, 'prefix'], what: `subnet ${n.prefix}`, range: prefixRange(n.prefix) })),
    ]);
    reportOverlaps(ctx, [
      ...s.interfaces.flatMap((f, i) => (f.addressPool ? [{ path: ['interfaces', i, 'addressPool'], what: `the addressPool of ${f.name}`, range: poolRange(f.addressPool) }] : [])),
      ...s.subnets.flatMap((n, i) => (n.addressPool ? [{ path: ['subnets', i, 'addressPool'], what: `the addressPool of subnet ${n.prefix}`, range: poolRange(n.addressPool) }] : [])),
    ]);
    reportOverlaps(ctx, [
      ...s.interfaces.flatMap((f, i) => (f.prefixPool ? [{ path: ['interfaces', i, 'prefixPool'], what: `the prefixPool of ${f.name}`, range: prefixRange(f.prefixPool.prefix) }] : [])),
      ...s.subnets.flatMap((n, i) => (n.prefixPool ? [{ path: ['subnets', i, 'prefixPool'], what: `the prefixPool of subnet ${n.prefix}`, range: prefixRange(n.prefixPool.prefix) }] : [])),
    ]);
  });

/** First and last address, as numbers (a range of a bad address or prefix is null: it has its own error). */
type Range = readonly [bigint, bigint] | null;

function poolRange(p: { start: string; end: string }): Range {
  const a = parseIpv6(p.start);
  const b = parseIpv6(p.end);
  return a && b ? [addressToBigInt(a), addressToBigInt(b)] : null;
}

function prefixRange(text: string): Range {
  const p = parsePrefix(text);
  if (p === null) return null;
  const lo = addressToBigInt(p.addr);
  return [lo, lo + (1n << BigInt(128 - p.len)) - 1n];
}

/** Each entry whose range meets an earlier one's is reported at its own path, naming the other. */
function reportOverlaps(ctx: z.RefinementCtx, entries: ReadonlyArray<{ path: Array<string | number>; what: string; range: Range }>): void {
  entries.forEach((e, i) => {
    const other = entries.slice(0, i).find((o) => o.range !== null && e.range !== null && o.range[0] <= e.range[1] && e.range[0] <= o.range[1]);
    if (other !== undefined) ctx.addIssue({ code: 'custom', path: e.path, message: `a range that does not overlap ${other.what}` });
  });
}

const relaySchema = z.strictObject({
  /** Client-facing interfaces. */
  interfaces: listOf(interfaceName(), 'interface names', 1),
  upstream: interfaceName(),
  /** Unicast server addresses; none means All_DHCP_Relay_Agents_and_Servers (ff02::1:2) on `upstream`. */
  servers: listOf(ipv6UnicastAddress(), 'IPv6 addresses').default([]),
});

const prefixInterfaceSchema = z.strictObject({
  /** A LAN interface that gets a /64 of the delegated prefix (WIDE's `prefix-interface`). */
  name: interfaceName(),
  /** The sub-prefix ID (WIDE's `sla-id`): it fills the bits between the delegated length and /64. */
  slaId: intInRange(0, UINT32_MAX),
  /** The router's interface identifier in that /64 (WIDE's `ifid`): 1 gives ::1. */
  hostId: intInRange(1, UINT32_MAX).default(1),
});

const clientSchema = z.strictObject({
  /** The WAN interface the client runs on. */
  interface: interfaceName(),
  /** stateful: IA_NA and/or IA_PD (§18.2.1); stateless: Information-request only (§18.2.6). */
  mode: z.enum(['stateful', 'stateless'], { error: 'stateful or stateless' }).default('stateful'),
  requestAddress: flag().default(true),
  requestPrefix: flag().default(true),
  /** A prefix-length hint in the IA_PD (§18.2.1); 0 sends none. */
  prefixLengthHint: intInRange(0, 64).default(0),
  rapidCommit: flag().default(false),
  releaseOnStop: flag().default(true),
  /** Delayed authentication with this `keys[].name` (WIDE's `send authentication` + `keyinfo`). */
  key: z.string({ error: 'the name of a key in dhcpv6.keys' }).optional(),
  /** RFC 8415 §18.2.11: send Reconfigure Accept and act on authenticated Reconfigure messages. */
  acceptReconfigure: flag().default(false),
  prefixInterfaces: listOf(prefixInterfaceSchema, 'prefix interfaces').default([]),
});

export const dhcpv6Section = defineSection(
  'dhcpv6',
  z
    .strictObject({
      enabled: flag().default(true),
      keys: listOf(keySchema, 'keys').default([]),
      server: serverSchema.optional(),
      relay: relaySchema.optional(),
      client: clientSchema.optional(),
    })
    .optional(),
  {
    summary: 'DHCPv6 server (address and prefix pools), relay agent, and client with prefix delegation.',
    reload: { kind: 'restart-module', module: 'dhcpv6 (leases are durable, so a restart keeps them)' },
  },
  (cfg, ctx) => {
    if (cfg === undefined) return;
    const check = (path: Array<string | number>, name: string) => {
      if (!ctx.interfaceNames.has(name)) ctx.report(path, `the name of a configured interface (${[...ctx.interfaceNames].join(', ')})`);
    };
    cfg.server?.interfaces.forEach((i, n) => {
      check(['server', 'interfaces', n, 'name'], i.name);
      if (i.delegatedPool === undefined) return;
      const path = ['server', 'interfaces', n, 'delegatedPool'];
      if (i.addressPool !== undefined) ctx.report(path, 'addressPool or delegatedPool on one interface, not both');
      const lan = cfg.client?.prefixInterfaces.find((p) => p.name === i.name);
      if (lan === undefined) {
        ctx.report(path, `an interface in dhcpv6.client.prefixInterfaces, which gets a /64 of the delegated prefix (${i.name} is not)`);
        return;
      }
      // The router's own address in that /64 (the prefix interface's hostId) is not for clients.
      const id = (s: string) => BigInt(`0x${Buffer.from(parseIpv6(s)!.subarray(8)).toString('hex')}`);
      if (BigInt(lan.hostId) >= id(i.delegatedPool.start) && BigInt(lan.hostId) <= id(i.delegatedPool.end)) {
        ctx.report(path, `a range without the router's own interface identifier (hostId ${lan.hostId} of ${i.name} is inside it)`);
      }
    });
    const keyNames = new Set<string>();
    cfg.keys.forEach((k, n) => {
      if (keyNames.has(k.name)) ctx.report(['keys', n, 'name'], `each key name once (${k.name} is listed twice)`);
      keyNames.add(k.name);
    });
    const checkKey = (path: Array<string | number>, name: string | undefined) => {
      if (name !== undefined && !keyNames.has(name)) ctx.report(path, `the name of a key in dhcpv6.keys (${[...keyNames].join(', ') || 'none is defined'})`);
    };
    cfg.server?.reservations.forEach((r, n) => checkKey(['server', 'reservations', n, 'key'], r.key));
    checkKey(['client', 'key'], cfg.client?.key);
    if (cfg.relay) {
      cfg.relay.interfaces.forEach((name, n) => check(['relay', 'interfaces', n], name));
      check(['relay', 'upstream'], cfg.relay.upstream);
      const served = new Set(cfg.server?.interfaces.map((i) => i.name) ?? []);
      cfg.relay.interfaces.forEach((name, n) => {
        if (served.has(name)) ctx.report(['relay', 'interfaces', n], `an interface the server does not also serve (${name} is in server.interfaces)`);
      });
    }
    if (cfg.client) {
      const client = cfg.client;
      check(['client', 'interface'], client.interface);
      const seen = new Set<string>();
      client.prefixInterfaces.forEach((p, n) => {
        check(['client', 'prefixInterfaces', n, 'name'], p.name);
        if (p.name === client.interface) ctx.report(['client', 'prefixInterfaces', n, 'name'], `a LAN interface, not the client's own ${client.interface}`);
        if (seen.has(p.name)) ctx.report(['client', 'prefixInterfaces', n, 'name'], `each interface once (${p.name} is listed twice)`);
        seen.add(p.name);
      });
      if (client.prefixInterfaces.length > 0 && (client.mode !== 'stateful' || !client.requestPrefix)) {
        ctx.report(['client', 'prefixInterfaces'], 'no prefix interfaces unless the client requests a prefix (mode stateful, requestPrefix true)');
      }
      if (cfg.relay?.interfaces.includes(client.interface) || cfg.server?.interfaces.some((i) => i.name === client.interface)) {
        ctx.report(['client', 'interface'], `an interface the server and relay do not serve (${client.interface} is served)`);
      }
    }
  },
);

export type Dhcpv6Config = NonNullable<z.output<typeof dhcpv6Section.schema>>;
export type Dhcpv6ServerConfig = NonNullable<Dhcpv6Config['server']>;
export type Dhcpv6RelayConfig = NonNullable<Dhcpv6Config['relay']>;
export type Dhcpv6ClientConfig = NonNullable<Dhcpv6Config['client']>;
