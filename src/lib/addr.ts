/**
 * IPv6 addresses, prefixes and MAC addresses as bytes.
 *
 * Addresses are 16-byte Uint8Arrays everywhere in turtle6: the wire codecs read them
 * straight out of packets and the tables store them as bytes, so text only appears at
 * the edges (config, CLI, logs). Parsing follows RFC 4291 §2.2, formatting RFC 5952.
 */

export type Ipv6Address = Uint8Array; // always 16 bytes
export type MacAddress = Uint8Array; // always 6 bytes

export interface Prefix {
  readonly addr: Ipv6Address; // host bits are zero
  readonly len: number; // 0..128
}

/** The address as a 128-bit number: addresses compare and step as numbers (::9 < ::10), never as text. */
export function addressToBigInt(a: Uint8Array): bigint {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(a[i]!);
  return v;
}

/** The inverse of addressToBigInt (the value taken modulo 2^128). */
export function bigIntToAddress(v: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Parses textual IPv6 (RFC 4291 §2.2, including an embedded IPv4 tail). Returns null when invalid. */
export function parseIpv6(text: string): Ipv6Address | null {
  const zoneAt = text.indexOf('%');
  if (zoneAt >= 0) text = text.slice(0, zoneAt);
  if (text.length < 2 || text.length > 45) return null;
  const out = new Uint8Array(16);
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const parts = s.split(':');
    const words: number[] = [];
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = p.split('.');
        if (v4.length !== 4) return null;
        const b = v4.map((x) => (/^\d{1,3}$/.test(x) ? Number(x) : NaN));
        if (b.some((x) => !(x >= 0 && x <= 255))) return null;
        words.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
      words.push(parseInt(p, 16));
    }
    return words;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1 && head.length !== 8) return null;
  if (halves.length === 2 && head.length + tail.length > 7) return null;
  const words = new Array<number>(8).fill(0);
  head.forEach((w, i) => (words[i] = w));
  tail.forEach((w, i) => (words[8 - tail.length + i] = w));
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

/** Formats per RFC 5952: lower case, longest run (≥2) of zero words compressed, first on ties. */
export function formatIpv6(a: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((a[offset + 2 * i]! << 8) | a[offset + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const hex = (w: number) => w.toString(16);
  if (bestStart < 0) return words.map(hex).join(':');
  const left = words.slice(0, bestStart).map(hex).join(':');
  const right = words.slice(bestStart + bestLen).map(hex).join(':');
  return `${left}::${right}`;
}

/** Parses "addr/len". With `strict`, host bits must be zero; otherwise they are cleared. */
export function parsePrefix(text: string, strict = false): Prefix | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const addr = parseIpv6(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === null || !/^\d{1,3}$/.test(lenText)) return null;
  const len = Number(lenText);
  if (len > 128) return null;
  const masked = maskAddress(addr, len);
  if (strict && !equalAddress(masked, addr)) return null;
  return { addr: masked, len };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIpv6(p.addr)}/${p.len}`;
}

/** A copy of `addr` with every bit past `len` cleared. */
export function maskAddress(addr: Uint8Array, len: number, offset = 0): Ipv6Address {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = len - 8 * i;
    const mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
    out[i] = addr[offset + i]! & mask;
  }
  return out;
}

/** True when the first `len` bits of `a` (at aOff) equal those of `b` (at bOff). No allocation. */
export function prefixMatch(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  const whole = len >> 3;
  for (let i = 0; i < whole; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  const rest = len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[aOff + whole]! & mask) === (b[bOff + whole]! & mask);
}

export function prefixContains(p: Prefix, addr: Uint8Array, offset = 0): boolean {
  return prefixMatch(p.addr, 0, addr, offset, p.len);
}

export function equalAddress(a: Uint8Array, b: Uint8Array, aOff = 0, bOff = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

export function isUnspecified(a: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[off + i] !== 0) return false;
  return true;
}

/** ff00::/8 (RFC 4291 §2.7). */
export function isMulticast(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xff;
}

/** fe80::/10 (RFC 4291 §2.5.6). */
export function isLinkLocal(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xfe && (a[off + 1]! & 0xc0) === 0x80;
}

/** fec0::/10, the deprecated site-local unicast prefix (RFC 3879; RFC 4291 §2.5.7). */
export function isSiteLocal(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xfe && (a[off + 1]! & 0xc0) === 0xc0;
}

/** Multicast scope nibble (RFC 4291 §2.7): 1 interface-local, 2 link-local, 5 site, 14 global. */
export function multicastScope(a: Uint8Array, off = 0): number {
  return a[off + 1]! & 0x0f;
}

export function isLoopback(a: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 15; i++) if (a[off + i] !== 0) return false;
  return a[off + 15] === 1;
}

/** ff02::1:ffXX:XXXX for `a` (RFC 4291 §2.7.1). */
export function solicitedNodeMulticast(a: Uint8Array): Ipv6Address {
  const out = parseIpv6('ff02::1:ff00:0')!;
  out[13] = a[13]!;
  out[14] = a[14]!;
  out[15] = a[15]!;
  return out;
}

/** 33:33 + low 32 bits of the group (RFC 2464 §7). */
export function multicastMac(group: Uint8Array, off = 0): MacAddress {
  return Uint8Array.of(0x33, 0x33, group[off + 12]!, group[off + 13]!, group[off + 14]!, group[off + 15]!);
}

/** Modified EUI-64 interface identifier from a MAC (RFC 4291 Appendix A). */
export function linkLocalFromMac(mac: MacAddress): Ipv6Address {
  const out = new Uint8Array(16);
  out[0] = 0xfe;
  out[1] = 0x80;
  out[8] = mac[0]! ^ 0x02;
  out[9] = mac[1]!;
  out[10] = mac[2]!;
  out[11] = 0xff;
  out[12] = 0xfe;
  out[13] = mac[3]!;
  out[14] = mac[4]!;
  out[15] = mac[5]!;
  return out;
}

export function parseMac(text: string): MacAddress | null {
  const m = /^([0-9a-fA-F]{2})(?::([0-9a-fA-F]{2})){5}$/.test(text) ? text.split(':') : null;
  if (m === null) return null;
  return Uint8Array.from(m.map((h) => parseInt(h, 16)));
}

export function formatMac(mac: Uint8Array, off = 0): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(mac[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

export const ALL_NODES = parseIpv6('ff02::1')!;
export const ALL_ROUTERS = parseIpv6('ff02::2')!;
export const UNSPECIFIED = new Uint8Array(16);
