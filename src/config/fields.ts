/**
 * Field schemas shared by the config sections. Every message here is the *expected* half of
 * a config error ("an IPv6 address like 2001:db8::1"); the loader adds the position, the
 * path and what was found, so a section never formats text for the operator itself.
 */
import { z } from 'zod';
import { formatIpv6, isMulticast, parseIpv6, parseMac, parsePrefix } from '../lib/addr.js';
import type { Secret } from '../lib/secret.js';
import { parseListen } from './listen.js';

export function ipv6Address(): z.ZodType<string, string> {
  const expected = 'an IPv6 address like 2001:db8::1';
  return z
    .string({ error: expected })
    .refine((s) => !s.includes('%') && parseIpv6(s) !== null, { error: expected })
    .transform((s) => formatIpv6(parseIpv6(s)!));
}

/** A unicast address usable as a next hop or a DNS server. */
export function ipv6UnicastAddress(): z.ZodType<string, string> {
  return ipv6Address().refine((s) => !isMulticast(parseIpv6(s)!), { error: 'a unicast IPv6 address (not ff00::/8)' });
}

/** An interface address with its on-link prefix length (host bits kept), in RFC 5952 form. */
export function ipv6AddressWithLength(): z.ZodType<string, string> {
  const expected = 'an IPv6 prefix like 2001:db8::1/64';
  return z
    .string({ error: expected })
    .refine((s) => parseIpv6(s.split('/')[0]!) !== null && parsePrefix(s) !== null, { error: expected })
    .transform((s) => `${formatIpv6(parseIpv6(s.split('/')[0]!)!)}/${parsePrefix(s)!.len}`);
}

/** A network prefix: bits past the length must be zero, since a route to 2001:db8::1/48 is almost always a typo. */
export function ipv6NetworkPrefix(): z.ZodType<string, string> {
  const expected = 'an IPv6 prefix like 2001:db8:100::/48';
  return z
    .string({ error: expected })
    .superRefine((s, ctx) => {
      const loose = parsePrefix(s);
      if (loose === null || parseIpv6(s.split('/')[0]!) === null) {
        ctx.addIssue({ code: 'custom', message: expected });
      } else if (parsePrefix(s, true) === null) {
        ctx.addIssue({
          code: 'custom',
          message: `an IPv6 prefix with no bits set past /${loose.len} (${formatIpv6(loose.addr)}/${loose.len})`,
        });
      }
    })
    .transform((s) => {
      const p = parsePrefix(s, true)!;
      return `${formatIpv6(p.addr)}/${p.len}`;
    });
}

/** A unicast MAC: the I/G bit (first octet, bit 0) must be clear (IEEE 802 §8.2). */
export function macAddress(): z.ZodType<string, string> {
  const expected = 'a MAC address like 02:00:5e:00:53:01';
  return z
    .string({ error: expected })
    .superRefine((s, ctx) => {
      const mac = parseMac(s);
      if (mac === null) ctx.addIssue({ code: 'custom', message: expected });
      else if ((mac[0]! & 1) !== 0) ctx.addIssue({ code: 'custom', message: 'a unicast MAC address (first octet even)' });
    })
    .transform((s) => s.toLowerCase());
}

/** `[ipv6]:port` or `ipv4:port`; the empty string means "disabled". */
export function listenAddress(): z.ZodType<string, string> {
  const expected = 'a listen address like "[::1]:9469" (or "" to disable)';
  return z.string({ error: expected }).refine((s) => s === '' || parseListen(s) !== null, { error: expected });
}

/** Linux IFNAMSIZ is 16 including the terminating NUL, hence 15 characters. */
export function interfaceName(): z.ZodString {
  const expected = 'an interface name of 1 to 15 characters from A-Z a-z 0-9 _ . -';
  return z.string({ error: expected }).regex(/^[A-Za-z0-9_.-]{1,15}$/, { error: expected });
}

export function intInRange(min: number, max: number, unit = ''): z.ZodNumber {
  const expected = `an integer from ${min} to ${max}${unit}`;
  return z.number({ error: expected }).int({ error: expected }).min(min, { error: expected }).max(max, { error: expected });
}

export function numberInRange(min: number, max: number, unit = ''): z.ZodNumber {
  const expected = `a number from ${min} to ${max}${unit}`;
  return z.number({ error: expected }).min(min, { error: expected }).max(max, { error: expected });
}

export function flag(): z.ZodBoolean {
  return z.boolean({ error: 'true or false' });
}

export function absolutePath(): z.ZodString {
  const expected = 'an absolute path like /run/turtle6/turtle6.sock';
  return z.string({ error: expected }).regex(/^\/\S*$/, { error: expected });
}

export function namespaceName(): z.ZodString {
  // `ip netns` names are file names under /run/netns.
  const expected = 'a network namespace name of 1 to 64 characters from A-Z a-z 0-9 _ . -';
  return z.string({ error: expected }).regex(/^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,64}$/, { error: expected });
}

/** RFC 1035 §2.3.4 limits: labels of 1..63 octets, at most 253 characters written out. */
export function domainName(): z.ZodType<string, string> {
  const expected = 'a domain name like example.test';
  const label = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;
  return z
    .string({ error: expected })
    .refine((s) => {
      const name = s.endsWith('.') ? s.slice(0, -1) : s;
      return name.length > 0 && name.length <= 253 && name.split('.').every((l) => label.test(l));
    }, { error: expected })
    .transform((s) => (s.endsWith('.') ? s.slice(0, -1) : s).toLowerCase());
}

/** A list whose message also names the element kind, so `addresses: 5` reads well. */
export function listOf<T extends z.ZodType>(item: T, what: string, min = 0) {
  const expected = min > 0 ? `a list of ${what} (at least ${min})` : `a list of ${what}`;
  return z.array(item, { error: expected }).min(min, { error: expected });
}

/** The schemas marked by secret(): their values are key material. */
const SECRET_FIELDS = new WeakSet<z.core.$ZodType>();

/**
 * Marks a field as key material, once, where the section defines it. Its schema must parse to
 * a Secret (lib/secret.ts), which show, diff and the logs print as <redacted>; and the loader
 * never echoes what an invalid secret field was given (isSecretPath).
 */
export function secret<T extends z.ZodType<Secret>>(schema: T): T {
  SECRET_FIELDS.add(schema);
  return schema;
}

/**
 * Whether `path` (into data parsed by `schema`) is a field marked secret(), looked up in the
 * schema itself: through objects, lists, optional/default wrappers and transforms.
 */
export function isSecretPath(schema: z.core.$ZodType, path: ReadonlyArray<PropertyKey>): boolean {
  let s: z.core.$ZodType | undefined = schema;
  let i = 0;
  while (s !== undefined) {
    if (SECRET_FIELDS.has(s)) return true;
    const def = s._zod.def as { type: string; innerType?: z.core.$ZodType; in?: z.core.$ZodType; element?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType> };
    if (def.innerType !== undefined) s = def.innerType;
    else if (def.type === 'pipe') s = def.in;
    else if (i >= path.length) return false;
    else if (def.type === 'object') s = def.shape?.[String(path[i++])];
    else if (def.type === 'array') {
      s = def.element;
      i++;
    } else return false;
  }
  return false;
}
