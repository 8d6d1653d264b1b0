/**
 * RFC 6724 destination address ordering, the part a stub can do without knowing which
 * source address the kernel would pick for each destination:
 *
 * - Rule 6, prefer higher precedence, from the default policy table (§2.1);
 * - Rule 8, prefer smaller scope (§3.1);
 * - Rule 10, otherwise keep the order the answers came in.
 *
 * Rules 1–5, 7 and 9 compare destinations through their source addresses (reachability,
 * matching scope and label, home addresses, native transport, longest matching prefix) and
 * are not applied. IPv4 addresses are ordered as their IPv4-mapped form (§2, ::ffff:0:0/96),
 * which puts global IPv6 (precedence 40) before IPv4 (35), and IPv4 before ULAs (3).
 */

interface Policy {
  readonly prefix: readonly number[];
  readonly len: number;
  readonly precedence: number;
  readonly label: number;
}

const bytes = (...words: number[]): number[] => words.flatMap((w) => [w >>> 8, w & 0xff]);

/** §2.1's default table. */
export const DEFAULT_POLICY_TABLE: readonly Policy[] = [
  { prefix: bytes(0, 0, 0, 0, 0, 0, 0, 1), len: 128, precedence: 50, label: 0 },
  { prefix: [], len: 0, precedence: 40, label: 1 },
  { prefix: bytes(0, 0, 0, 0, 0, 0xffff), len: 96, precedence: 35, label: 4 },
  { prefix: bytes(0x2002), len: 16, precedence: 30, label: 2 },
  { prefix: bytes(0x2001, 0), len: 32, precedence: 5, label: 5 },
  { prefix: bytes(0xfc00), len: 7, precedence: 3, label: 13 },
  { prefix: bytes(0, 0, 0, 0, 0, 0), len: 96, precedence: 1, label: 3 },
  { prefix: bytes(0xfec0), len: 10, precedence: 1, label: 11 },
  { prefix: bytes(0x3ffe), len: 16, precedence: 1, label: 12 },
];

function matches(addr: Uint8Array, p: Policy): boolean {
  for (let bit = 0; bit < p.len; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((addr[byte]! & mask) !== ((p.prefix[byte] ?? 0) & mask)) return false;
  }
  return true;
}

export function precedenceOf(addr: Uint8Array): number {
  let best: Policy | undefined;
  for (const p of DEFAULT_POLICY_TABLE) if (matches(addr, p) && (best === undefined || p.len > best.len)) best = p;
  return best!.precedence;
}

/** §3.1 scope values: 2 link-local, 5 site-local, 14 global; multicast carries its own. */
export function scopeOf(addr: Uint8Array): number {
  if (addr[0] === 0xff) return addr[1]! & 0x0f;
  if (addr[0] === 0xfe && (addr[1]! & 0xc0) === 0x80) return 2;
  if (addr[0] === 0xfe && (addr[1]! & 0xc0) === 0xc0) return 5;
  if (addr.every((b, i) => (i === 15 ? b === 1 : b === 0))) return 2;
  // §3.2: IPv4 loopback and link-local are link-local scope, the rest global.
  if (isV4Mapped(addr) && (addr[12] === 127 || (addr[12] === 169 && addr[13] === 254))) return 2;
  return 14;
}

function isV4Mapped(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** A stable sort of `list` by Rules 6 and 8; `key` gives each item's 16-byte (mapped) address. */
export function sortDestinations<T>(list: readonly T[], key: (item: T) => Uint8Array): T[] {
  return list
    .map((item, index) => ({ item, index, a: key(item) }))
    .sort((x, y) => precedenceOf(y.a) - precedenceOf(x.a) || scopeOf(x.a) - scopeOf(y.a) || x.index - y.index)
    .map((e) => e.item);
}

/** ::ffff:a.b.c.d for a 4-byte address. */
export function v4Mapped(v4: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}
