/**
 * `interfaces`: the router's ports. A tap port carries Ethernet frames (the appliance does
 * ND and MLD itself); a tun port carries bare IPv6 (point-to-point links and tunnels).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { formatIpv6, formatMac, isLinkLocal, isMulticast, linkLocalFromMac, maskAddress, parseIpv6, parseMac, parsePrefix } from '../../lib/addr.js';
import {
  domainName, flag, intInRange, interfaceName, ipv6AddressWithLength, ipv6NetworkPrefix, ipv6UnicastAddress,
  listOf, macAddress, namespaceName, numberInRange,
} from '../fields.js';
import { defineSection } from '../registry.js';
import { MAX_PORT_MTU } from '../../shm/pool.js';

/** RFC 4861 §6.2.1 bounds, and its default ValidLifetime (30 days) and PreferredLifetime (7 days). */
export const RA_LIMITS = {
  minMaxInterval: 4,
  maxMaxInterval: 1800,
  minMinInterval: 3,
  maxDefaultLifetime: 9000,
  maxReachableTime: 3_600_000,
  defaultValidLifetime: 2_592_000,
  defaultPreferredLifetime: 604_800,
} as const;

/** RFC 8200 §5: every link must carry 1280-byte packets. */
export const MIN_MTU = 1280;

const UINT32_MAX = 0xffff_ffff;

const raPrefixSchema = z.strictObject({
  prefix: ipv6NetworkPrefix(),
  onLink: flag().default(true),
  autonomous: flag().default(true),
  validLifetime: intInRange(0, UINT32_MAX, ' seconds').default(RA_LIMITS.defaultValidLifetime),
  preferredLifetime: intInRange(0, UINT32_MAX, ' seconds').default(RA_LIMITS.defaultPreferredLifetime),
});

/** RFC 4191 §2.1: the router (and route) preference values. */
const raPreference = () => z.enum(['high', 'medium', 'low'], { error: 'high, medium or low' });

const raRouteSchema = z.strictObject({
  prefix: ipv6NetworkPrefix(),
  lifetime: intInRange(0, UINT32_MAX, ' seconds').optional(),
  preference: raPreference().default('medium'),
});

const raSchema = z.strictObject({
  enabled: flag().optional(),
  accept: flag().default(false),
  maxInterval: intInRange(RA_LIMITS.minMaxInterval, RA_LIMITS.maxMaxInterval, ' seconds').default(600),
  minInterval: numberInRange(RA_LIMITS.minMinInterval, RA_LIMITS.maxMaxInterval, ' seconds').optional(),
  defaultLifetime: intInRange(0, RA_LIMITS.maxDefaultLifetime, ' seconds').optional(),
  hopLimit: intInRange(0, 255).default(64),
  managed: flag().default(false),
  other: flag().default(false),
  mtu: flag().default(true),
  reachableTime: intInRange(0, RA_LIMITS.maxReachableTime, ' ms').default(0),
  retransTimer: intInRange(0, UINT32_MAX, ' ms').default(0),
  prefixes: listOf(raPrefixSchema, 'prefixes').optional(),
  preference: raPreference().default('medium'),
  routes: listOf(raRouteSchema, 'routes').default([]),
  rdnss: z
    .strictObject({
      servers: listOf(ipv6UnicastAddress(), 'IPv6 addresses', 1),
      lifetime: intInRange(0, UINT32_MAX, ' seconds').optional(),
    })
    .optional(),
  dnssl: z
    .strictObject({
      domains: listOf(domainName(), 'domain names', 1),
      lifetime: intInRange(0, UINT32_MAX, ' seconds').optional(),
    })
    .optional(),
});

const interfaceInputSchema = z.strictObject({
  name: interfaceName(),
  kind: z.enum(['tap', 'tun'], { error: 'tap or tun' }).default('tap'),
  // Jumbo frames: the lanes' pool slots grow to hold the largest MTU (shm/pool.ts).
  mtu: intInRange(MIN_MTU, MAX_PORT_MTU).default(1500),
  mac: macAddress().optional(),
  addresses: listOf(ipv6AddressWithLength(), 'IPv6 prefixes like 2001:db8::1/64').default([]),
  netns: namespaceName().optional(),
  attach: interfaceName().optional(),
  ra: raSchema.optional(),
  // RFC 4861 §8.2: tell a neighbour of a better first hop on its link (Linux's default, too).
  redirects: flag().default(true),
});

type InterfaceInput = z.output<typeof interfaceInputSchema>;
type RaInput = z.output<typeof raSchema>;

function isGlobal(addressWithLength: string): boolean {
  const addr = parseIpv6(addressWithLength.split('/')[0]!)!;
  return !isLinkLocal(addr) && !isMulticast(addr);
}

/** A stable, locally administered MAC for a tap port: 02 then 5 bytes of SHA-256 of its name. */
export function derivedMac(name: string): string {
  const hash = createHash('sha256').update(`turtle6 port ${name}`).digest();
  return formatMac(Uint8Array.of(0x02, hash[0]!, hash[1]!, hash[2]!, hash[3]!, hash[4]!));
}

/** RFC 4861 §6.2.1: MinRtrAdvInterval defaults to 0.33 × Max. For Max < 9 s that would break the
 * section's own lower bound of 3 s, so (as the RFC does for that case) Min follows Max, capped
 * at the 0.75 × Max upper bound. */
function defaultMinInterval(maxInterval: number): number {
  return maxInterval >= 9 ? Math.round(0.33 * maxInterval * 100) / 100 : 0.75 * maxInterval;
}

function checkInterface(iface: InterfaceInput, ctx: z.RefinementCtx): void {
  if (iface.kind === 'tun' && iface.mac !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['mac'], message: 'no mac on a tun port (it carries bare IPv6)' });
  }
  if (iface.kind === 'tun' && iface.ra !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['ra'], message: 'no ra on a tun port (router advertisements need a link layer: tap only)' });
  }
  if (iface.netns !== undefined && iface.attach !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['attach'],
      message: 'attach or netns, not both (a port goes either into a namespace or onto a kernel interface)',
    });
  }
  if (iface.ra !== undefined) checkRa(iface.ra, ctx);
}

function checkRa(ra: RaInput, ctx: z.RefinementCtx): void {
  // RFC 7084 §4.1 (and RFC 4861 §6.2.2): an upstream port learns from the upstream router's
  // RAs; it is not an advertising interface, or the upstream hosts would route through us.
  if (ra.accept === true && ra.enabled === true) {
    ctx.addIssue({
      code: 'custom',
      path: ['ra', 'enabled'],
      message: 'false or absent when accept is true (an upstream port learns RAs and does not advertise, RFC 7084 §4.1)',
    });
  }
  const max = ra.maxInterval;
  // RFC 4861 §6.2.1: "MUST be no less than 3 seconds and no greater than .75 * MaxRtrAdvInterval".
  if (ra.minInterval !== undefined && ra.minInterval > 0.75 * max) {
    ctx.addIssue({
      code: 'custom',
      path: ['ra', 'minInterval'],
      message: `a number from 3 to ${0.75 * max} seconds (RFC 4861 §6.2.1: MinRtrAdvInterval ≤ 0.75 × maxInterval ${max})`,
    });
  }
  // "MUST be either zero or between MaxRtrAdvInterval and 9000 seconds".
  if (ra.defaultLifetime !== undefined && ra.defaultLifetime !== 0 && ra.defaultLifetime < max) {
    ctx.addIssue({
      code: 'custom',
      path: ['ra', 'defaultLifetime'],
      message: `0 or an integer from ${max} to 9000 seconds (RFC 4861 §6.2.1: AdvDefaultLifetime ≥ maxInterval ${max})`,
    });
  }
  ra.prefixes?.forEach((p, i) => {
    // RFC 4862 §5.5.3(c): a host ignores a prefix whose preferred lifetime exceeds its valid lifetime.
    if (p.preferredLifetime > p.validLifetime) {
      ctx.addIssue({
        code: 'custom',
        path: ['ra', 'prefixes', i, 'preferredLifetime'],
        message: `an integer no larger than validLifetime ${p.validLifetime} (RFC 4862 §5.5.3)`,
      });
    }
    // RFC 4862 §5.5.3(d) with RFC 4291 §2.5.1's 64-bit interface identifiers: SLAAC needs a /64.
    // Fields that failed their own schema still hold raw input here, hence the re-parse.
    const prefix = typeof p.prefix === 'string' ? parsePrefix(p.prefix) : null;
    if (p.autonomous === true && prefix !== null && prefix.len !== 64) {
      ctx.addIssue({
        code: 'custom',
        path: ['ra', 'prefixes', i, 'prefix'],
        message: 'a /64 prefix when autonomous is true (SLAAC forms 64-bit interface identifiers, RFC 4862 §5.5.3)',
      });
    }
  });
}

function resolveInterface(iface: InterfaceInput) {
  const mac = iface.kind === 'tap' ? (iface.mac ?? derivedMac(iface.name)) : null;
  // A tun port has no MAC; its link-local interface identifier comes from the name's derived MAC,
  // which is just as stable (RFC 4291 §2.5.1 only asks identifiers to be unique on the link).
  const configuredLinkLocal = iface.addresses.find((a) => !isGlobal(a) && isLinkLocal(parseIpv6(a.split('/')[0]!)!));
  const linkLocal = configuredLinkLocal?.split('/')[0] ?? formatIpv6(linkLocalFromMac(parseMac(mac ?? derivedMac(iface.name))!));
  const globals = iface.addresses.filter(isGlobal);
  const ra = iface.ra ?? ({} as Partial<RaInput>);
  const maxInterval = ra.maxInterval ?? 600;
  const raLifetimeDefault = 3 * maxInterval;
  const defaultPrefixes = [...new Set(globals.map((a) => `${formatIpv6(maskAddress(parseIpv6(a.split('/')[0]!)!, 64))}/64`))].map(
    (prefix) => ({
      prefix,
      onLink: true,
      autonomous: true,
      validLifetime: RA_LIMITS.defaultValidLifetime as number,
      preferredLifetime: RA_LIMITS.defaultPreferredLifetime as number,
    }),
  );
  return {
    name: iface.name,
    kind: iface.kind,
    mtu: iface.mtu,
    mac,
    linkLocal,
    addresses: iface.addresses,
    netns: iface.netns ?? null,
    attach: iface.attach ?? null,
    redirects: iface.redirects,
    ra: {
      enabled: iface.kind === 'tap' && (ra.enabled ?? (ra.accept !== true && globals.length > 0)),
      accept: iface.kind === 'tap' && ra.accept === true,
      maxInterval,
      minInterval: ra.minInterval ?? defaultMinInterval(maxInterval),
      defaultLifetime: ra.defaultLifetime ?? raLifetimeDefault,
      hopLimit: ra.hopLimit ?? 64,
      managed: ra.managed ?? false,
      other: ra.other ?? false,
      mtu: ra.mtu ?? true,
      reachableTime: ra.reachableTime ?? 0,
      retransTimer: ra.retransTimer ?? 0,
      prefixes: ra.prefixes ?? defaultPrefixes,
      preference: ra.preference ?? 'medium',
      // A route lifetime as long as the router's own, by default (radvd's AdvRouteLifetime).
      routes: (ra.routes ?? []).map((r) => ({ prefix: r.prefix, lifetime: r.lifetime ?? raLifetimeDefault, preference: r.preference })),
      // RFC 8106 §5.1: the lifetime "SHOULD by default be at least 3 * MaxRtrAdvInterval".
      rdnss: ra.rdnss === undefined ? null : { servers: ra.rdnss.servers, lifetime: ra.rdnss.lifetime ?? raLifetimeDefault },
      dnssl: ra.dnssl === undefined ? null : { domains: ra.dnssl.domains, lifetime: ra.dnssl.lifetime ?? raLifetimeDefault },
    },
  };
}

const interfaceSchema = interfaceInputSchema.superRefine(checkInterface).transform(resolveInterface);

export type InterfaceConfig = z.output<typeof interfaceSchema>;
export type RaConfig = InterfaceConfig['ra'];

function checkUnique(list: InterfaceConfig[], ctx: z.RefinementCtx): void {
  // Uniqueness is judged on resolved entries; with errors inside them, some are still raw input.
  if (ctx.issues.length > 0) return;
  const names = new Map<string, number>();
  const addresses = new Map<string, string>();
  list.forEach((iface, i) => {
    const first = names.get(iface.name);
    if (first !== undefined) {
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `a name not used by another port (interfaces[${first}] is already "${iface.name}")` });
    } else {
      names.set(iface.name, i);
    }
    iface.addresses.forEach((a, j) => {
      // Link-local addresses are scoped to their link (RFC 4007 §6), so only global ones must be unique.
      const key = formatIpv6(parseIpv6(a.split('/')[0]!)!);
      const where = `interfaces[${i}].addresses[${j}]`;
      const seen = isGlobal(a) ? addresses.get(key) : undefined;
      if (seen !== undefined) {
        ctx.addIssue({ code: 'custom', path: [i, 'addresses', j], message: `an address not already configured (${seen} has ${key})` });
      } else if (isGlobal(a)) {
        addresses.set(key, where);
      }
    });
  });
}

export const interfacesSection = defineSection(
  'interfaces',
  listOf(interfaceSchema, 'interfaces', 1).superRefine(checkUnique),
  {
    summary: 'The router ports (tap: Ethernet, tun: bare IPv6), their addresses and router advertisements.',
    reload: { kind: 'restart-module', module: 'the changed port alone (addresses, mtu and ra apply in place; a port added or removed opens or closes on every lane)' },
  },
);
