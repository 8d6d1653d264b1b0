/**
 * DNS messages (RFC 1035 §4), as plain immutable Reprs.
 *
 * - Header, questions and the three record sections. Names are presentation text without
 *   the trailing dot ("" is the root): bytes outside 0x21–0x7e are written \DDD, and a dot
 *   or backslash inside a label is escaped (RFC 4343 §2.1, as dig prints them).
 * - Names are decompressed on read (§4.1.4) with guards: every pointer must point strictly
 *   before the start of the piece of name that led to it, so a chain can only move backward
 *   and must end; at most MAX_POINTER_HOPS pointers; labels ≤ 63 bytes and the whole name
 *   ≤ 255 bytes after decompression (§2.3.4).
 * - Names are compressed on write against every owner name and every name in the RDATA of
 *   the RFC 1035 types, and only those (RFC 3597 §4: never inside types this code does not
 *   know, whose RDATA a later reader could not rewrite).
 * - Typed RDATA: A, AAAA (RFC 3596 §2.2, IN class only), NS, CNAME, PTR, MX, SOA, TXT. Every
 *   other type, and A/AAAA in another class, keeps its RDATA as opaque bytes (RFC 3597 §5).
 * - The OPT pseudo-record (RFC 6891 §6.1) is taken out of the additional section into
 *   `edns`: UDP payload size, the upper 8 bits of the extended RCODE, version, the DO bit,
 *   the other flag bits, and the options as opaque code/data pairs. More than one OPT, or
 *   an OPT whose owner is not the root, makes the message fail (§6.1.1: FORMERR).
 *
 * Trio per the style guide: encodingLengthDns(msg), encodeDns(msg, buf, off) → bytes written,
 * decodeDns(buf, off, len) → Decoded. Decoders never throw on untrusted bytes; encoders take
 * Reprs whose names passed parseDnsName (they throw on a name that did not: a caller's bug).
 */
import { formatIpv6 } from '../lib/addr.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { type Decoded, fail, ok } from './result.js';

export const DNS_PORT = 53;
export const DNS_HEADER_LEN = 12;
/** RFC 1035 §2.3.4. */
export const MAX_LABEL_LEN = 63;
export const MAX_NAME_LEN = 255;
/**
 * A 255-byte name has at most 127 labels, so a decompression that follows more pointers
 * than that is looping or hostile, whatever the backward rule says.
 */
export const MAX_POINTER_HOPS = 127;

/** IANA "Resource Record (RR) TYPEs" used here. */
export const DNS_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

export const DNS_CLASS = { IN: 1, CH: 3, ANY: 255 } as const;

/** RFC 1035 §4.1.1 and RFC 6891 §9 (BADVERS needs the extended bits). */
export const DNS_RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export const DNS_OPCODE = { QUERY: 0 } as const;

const TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(DNS_TYPE).map(([k, v]) => [v, k]));
const RCODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(DNS_RCODE).map(([k, v]) => [v, k]));

/** "AAAA", or RFC 3597 §5's "TYPE65280" for a type without a mnemonic here. */
export function dnsTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `TYPE${type}`;
}

/** The inverse of dnsTypeName, case-insensitive; null for anything else. */
export function parseDnsType(text: string): number | null {
  const upper = text.toUpperCase();
  const known = (DNS_TYPE as Record<string, number>)[upper];
  if (known !== undefined) return known;
  const m = /^TYPE(\d{1,5})$/.exec(upper);
  return m !== null && Number(m[1]) <= 0xffff ? Number(m[1]) : null;
}

export function dnsRcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

export type DnsRdata =
  | { readonly kind: 'a'; readonly address: Uint8Array }
  | { readonly kind: 'aaaa'; readonly address: Uint8Array }
  /** NS, CNAME and PTR: one domain name. */
  | { readonly kind: 'ns' | 'cname' | 'ptr'; readonly name: string }
  | { readonly kind: 'mx'; readonly preference: number; readonly exchange: string }
  | {
      readonly kind: 'soa';
      readonly mname: string;
      readonly rname: string;
      readonly serial: number;
      readonly refresh: number;
      readonly retry: number;
      readonly expire: number;
      readonly minimum: number;
    }
  /** One or more <character-string>s (RFC 1035 §3.3.14). */
  | { readonly kind: 'txt'; readonly strings: readonly Uint8Array[] }
  | { readonly kind: 'opaque'; readonly data: Uint8Array };

export interface DnsQuestion {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface DnsRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  readonly rdata: DnsRdata;
}

export interface EdnsOption {
  readonly code: number;
  readonly data: Uint8Array;
}

/** RFC 6891 §6.1.2–6.1.4: the OPT record's fields. */
export interface Edns {
  /** Requestor's UDP payload size (the CLASS field). */
  readonly udpSize: number;
  /** The upper 8 bits of the 12-bit RCODE. */
  readonly extendedRcode: number;
  readonly version: number;
  /** DNSSEC OK (RFC 3225). */
  readonly dnssecOk: boolean;
  /** The 15 Z bits after DO, kept as received. */
  readonly z: number;
  readonly options: readonly EdnsOption[];
}

export interface DnsMessage {
  readonly id: number;
  readonly qr: boolean;
  readonly opcode: number;
  readonly aa: boolean;
  readonly tc: boolean;
  readonly rd: boolean;
  readonly ra: boolean;
  /** The reserved Z bit of RFC 1035 (bit 9), kept as received. */
  readonly z: boolean;
  /** RFC 4035 §3.2.3 and §3.2.2. */
  readonly ad: boolean;
  readonly cd: boolean;
  /** The header's 4 RCODE bits; fullRcode() adds EDNS's upper bits. */
  readonly rcode: number;
  readonly questions: readonly DnsQuestion[];
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
  /** Without the OPT record, which is `edns`. */
  readonly additionals: readonly DnsRecord[];
  readonly edns: Edns | null;
}

/** The 12-bit RCODE (RFC 6891 §6.1.3). */
export function fullRcode(msg: DnsMessage): number {
  return ((msg.edns?.extendedRcode ?? 0) << 4) | msg.rcode;
}

// ---------------------------------------------------------------- names as text

function labelToText(buf: Uint8Array, s: number, e: number): string {
  let out = '';
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if (b === 0x2e || b === 0x5c) out += '\\' + String.fromCharCode(b);
    else if (b < 0x21 || b > 0x7e) out += '\\' + String(b).padStart(3, '0');
    else out += String.fromCharCode(b);
  }
  return out;
}

/**
 * Presentation text to wire labels (RFC 1035 §5.1 escapes: \DDD and \X). A trailing dot is
 * allowed; "" and "." are the root. Returns the labels, or a reason: an empty label, a label
 * over 63 bytes, a name over 255 bytes on the wire, or a bad escape.
 */
export function parseDnsName(text: string): Uint8Array[] | string {
  if (text === '' || text === '.') return [];
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  let wire = 1;
  const endLabel = (): string | null => {
    if (cur.length === 0) return 'empty label';
    if (cur.length > MAX_LABEL_LEN) return `label of ${cur.length} bytes, above ${MAX_LABEL_LEN}`;
    wire += 1 + cur.length;
    labels.push(Uint8Array.from(cur));
    cur = [];
    return null;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) return 'character outside Latin-1 (write it as \\DDD bytes)';
    if (c === 0x2e) {
      const err = endLabel();
      if (err !== null) return err;
      if (i === text.length - 1) break;
      continue;
    }
    if (c === 0x5c) {
      const d = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (d !== null) {
        const v = Number(d[0]);
        if (v > 255) return `escape \\${d[0]} above 255`;
        cur.push(v);
        i += 3;
      } else if (i + 1 < text.length) {
        cur.push(text.charCodeAt(i + 1) & 0xff);
        i += 1;
      } else {
        return 'backslash at the end of the name';
      }
      continue;
    }
    cur.push(c);
  }
  if (cur.length > 0 || (text.length > 0 && text.charCodeAt(text.length - 1) !== 0x2e)) {
    const err = endLabel();
    if (err !== null) return err;
  }
  if (wire > MAX_NAME_LEN) return `name of ${wire} bytes on the wire, above ${MAX_NAME_LEN}`;
  return labels;
}

/** The canonical text of a name (escapes normalised, no trailing dot), or null if it is not one. */
export function canonicalDnsName(text: string): string | null {
  const labels = parseDnsName(text);
  if (typeof labels === 'string') return null;
  return labels.map((l) => labelToText(l, 0, l.length)).join('.');
}

/** RFC 4343: names compare case-insensitively in ASCII only. */
export function dnsNamesEqual(a: string, b: string): boolean {
  return asciiLower(a) === asciiLower(b);
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) | 0x20));
}

/**
 * RDATA in presentation form, as dig prints it (names without the trailing dot): unknown
 * types as RFC 3597 §5's `\# length hex`.
 */
export function formatRdata(rd: DnsRdata): string {
  switch (rd.kind) {
    case 'a':
      return rd.address.join('.');
    case 'aaaa':
      return formatIpv6(rd.address);
    case 'ns':
    case 'cname':
    case 'ptr':
      return rd.name;
    case 'mx':
      return `${rd.preference} ${rd.exchange}`;
    case 'soa':
      return `${rd.mname} ${rd.rname} ${rd.serial} ${rd.refresh} ${rd.retry} ${rd.expire} ${rd.minimum}`;
    case 'txt':
      return rd.strings.map((s) => `"${labelToText(s, 0, s.length).replace(/"/g, '\\"').replace(/\\\./g, '.')}"`).join(' ');
    case 'opaque':
      return `\\# ${rd.data.length}${rd.data.length > 0 ? ' ' : ''}${Buffer.from(rd.data).toString('hex')}`;
  }
}

// ---------------------------------------------------------------- ip6.arpa (RFC 3596 §2.5)

const HEX = '0123456789abcdef';

/** 2001:db8::1 → "1.0.0.0.….8.b.d.0.1.0.0.2.ip6.arpa": 32 nibbles, least significant first. */
export function ip6ArpaName(address: Uint8Array): string {
  const out: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const b = address[i]!;
    out.push(HEX[b & 0xf]!, HEX[b >>> 4]!);
  }
  return `${out.join('.')}.ip6.arpa`;
}

/** The inverse of ip6ArpaName, case-insensitive; null unless the name is a full 32-nibble ip6.arpa name. */
export function parseIp6ArpaName(name: string): Uint8Array | null {
  const labels = asciiLower(name.endsWith('.') ? name.slice(0, -1) : name).split('.');
  if (labels.length !== 34 || labels[32] !== 'ip6' || labels[33] !== 'arpa') return null;
  const out = new Uint8Array(16);
  for (let i = 0; i < 32; i++) {
    const v = HEX.indexOf(labels[i]!);
    if (labels[i]!.length !== 1 || v < 0) return null;
    const byte = 15 - (i >> 1);
    out[byte]! |= i % 2 === 0 ? v : v << 4;
  }
  return out;
}

// ---------------------------------------------------------------- decoding

interface Cursor {
  /** The message's first byte: pointers count from here. */
  readonly base: number;
  readonly end: number;
}

/** Reads a possibly compressed name at `at`; the length is the bytes it takes in place. */
function decodeName(buf: Uint8Array, c: Cursor, at: number): Decoded<string> {
  const parts: string[] = [];
  let wire = 1;
  let pos = at;
  let consumed = -1;
  // The start of the piece being read: a pointer must point strictly before it.
  let pieceStart = at;
  let hops = 0;
  for (;;) {
    if (pos >= c.end) return fail('name runs past the end of the message', pos);
    const n = buf[pos]!;
    if (n === 0) {
      if (consumed < 0) consumed = pos + 1 - at;
      break;
    }
    const kind = n & 0xc0;
    if (kind === 0xc0) {
      if (pos + 2 > c.end) return fail('compression pointer cut by the end of the message', pos);
      const target = c.base + (readU16(buf, pos) & 0x3fff);
      if (target >= pieceStart) return fail(`compression pointer at ${pos - c.base} to ${target - c.base} does not point backward`, pos);
      if (++hops > MAX_POINTER_HOPS) return fail(`more than ${MAX_POINTER_HOPS} compression pointers in one name`, pos);
      if (consumed < 0) consumed = pos + 2 - at;
      pos = target;
      pieceStart = target;
      continue;
    }
    // 0x40 and 0x80 are the retired extended label types (RFC 6891 §5).
    if (kind !== 0) return fail(`label type 0x${kind.toString(16)} is not supported`, pos);
    if (pos + 1 + n > c.end) return fail('label runs past the end of the message', pos);
    wire += 1 + n;
    if (wire > MAX_NAME_LEN) return fail(`name longer than ${MAX_NAME_LEN} bytes`, at);
    parts.push(labelToText(buf, pos + 1, pos + 1 + n));
    pos += 1 + n;
  }
  return ok(parts.join('.'), consumed);
}

function decodeQuestion(buf: Uint8Array, c: Cursor, at: number): Decoded<DnsQuestion> {
  const name = decodeName(buf, c, at);
  if (!name.ok) return name;
  const p = at + name.length;
  if (p + 4 > c.end) return fail('question cut by the end of the message', at);
  return ok({ name: name.value, type: readU16(buf, p), class: readU16(buf, p + 2) }, name.length + 4);
}

/** A record as read, with its RDATA still in place: OPT is handled by the caller. */
interface RawRecord {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly ttl: number;
  readonly rdStart: number;
  readonly rdEnd: number;
}

function decodeRawRecord(buf: Uint8Array, c: Cursor, at: number): Decoded<RawRecord> {
  const name = decodeName(buf, c, at);
  if (!name.ok) return name;
  const p = at + name.length;
  if (p + 10 > c.end) return fail('record header cut by the end of the message', at);
  const rdLen = readU16(buf, p + 8);
  if (p + 10 + rdLen > c.end) return fail(`RDATA of ${rdLen} bytes runs past the end of the message`, p + 8);
  return ok(
    { name: name.value, type: readU16(buf, p), class: readU16(buf, p + 2), ttl: readU32(buf, p + 4), rdStart: p + 10, rdEnd: p + 10 + rdLen },
    name.length + 10 + rdLen,
  );
}

/** A name inside RDATA: it may point anywhere earlier, but its in-place bytes stay inside the RDATA. */
function rdataName(buf: Uint8Array, c: Cursor, at: number, rdEnd: number): Decoded<string> {
  return decodeName(buf, { base: c.base, end: rdEnd }, at);
}

function decodeRdata(buf: Uint8Array, c: Cursor, r: RawRecord): Decoded<DnsRdata> {
  const { rdStart: s, rdEnd: e, type } = r;
  const len = e - s;
  const bad = (what: string): Decoded<DnsRdata> => fail(`${dnsTypeName(type)} RDATA: ${what} (length ${len})`, s);
  switch (type) {
    case DNS_TYPE.A:
    case DNS_TYPE.AAAA: {
      if (r.class !== DNS_CLASS.IN) break;
      const want = type === DNS_TYPE.A ? 4 : 16;
      if (len !== want) return bad(`expected ${want} bytes`);
      return ok({ kind: type === DNS_TYPE.A ? 'a' : 'aaaa', address: buf.slice(s, e) }, len);
    }
    case DNS_TYPE.NS:
    case DNS_TYPE.CNAME:
    case DNS_TYPE.PTR: {
      const name = rdataName(buf, c, s, e);
      if (!name.ok) return bad(name.reason);
      if (name.length !== len) return bad('bytes after the name');
      const kind = type === DNS_TYPE.NS ? 'ns' : type === DNS_TYPE.CNAME ? 'cname' : 'ptr';
      return ok({ kind, name: name.value }, len);
    }
    case DNS_TYPE.MX: {
      if (len < 3) return bad('shorter than preference and a name');
      const name = rdataName(buf, c, s + 2, e);
      if (!name.ok) return bad(name.reason);
      if (2 + name.length !== len) return bad('bytes after the exchange');
      return ok({ kind: 'mx', preference: readU16(buf, s), exchange: name.value }, len);
    }
    case DNS_TYPE.SOA: {
      const mname = rdataName(buf, c, s, e);
      if (!mname.ok) return bad(mname.reason);
      const rname = rdataName(buf, c, s + mname.length, e);
      if (!rname.ok) return bad(rname.reason);
      const p = s + mname.length + rname.length;
      if (e - p !== 20) return bad('the five counters are not 20 bytes');
      return ok(
        {
          kind: 'soa',
          mname: mname.value,
          rname: rname.value,
          serial: readU32(buf, p),
          refresh: readU32(buf, p + 4),
          retry: readU32(buf, p + 8),
          expire: readU32(buf, p + 12),
          minimum: readU32(buf, p + 16),
        },
        len,
      );
    }
    case DNS_TYPE.TXT: {
      const strings: Uint8Array[] = [];
      let at = s;
      while (at < e) {
        const n = buf[at]!;
        if (at + 1 + n > e) return bad('character-string runs past the RDATA');
        strings.push(buf.slice(at + 1, at + 1 + n));
        at += 1 + n;
      }
      if (strings.length === 0) return bad('no character-string');
      return ok({ kind: 'txt', strings }, len);
    }
    default:
      break;
  }
  return ok({ kind: 'opaque', data: buf.slice(s, e) }, len);
}

function decodeOpt(buf: Uint8Array, r: RawRecord): Decoded<Edns> {
  if (r.name !== '') return fail('OPT record owned by a name other than the root', r.rdStart);
  const options: EdnsOption[] = [];
  let at = r.rdStart;
  while (at < r.rdEnd) {
    if (r.rdEnd - at < 4) return fail(`truncated OPT option header: ${r.rdEnd - at} bytes left`, at);
    const code = readU16(buf, at);
    const n = readU16(buf, at + 2);
    if (at + 4 + n > r.rdEnd) return fail(`OPT option ${code} of ${n} bytes runs past the RDATA`, at);
    options.push({ code, data: buf.slice(at + 4, at + 4 + n) });
    at += 4 + n;
  }
  return ok(
    {
      udpSize: r.class,
      extendedRcode: r.ttl >>> 24,
      version: (r.ttl >>> 16) & 0xff,
      dnssecOk: (r.ttl & 0x8000) !== 0,
      z: r.ttl & 0x7fff,
      options,
    },
    r.rdEnd - r.rdStart,
  );
}

export function decodeDns(buf: Uint8Array, off = 0, len = buf.length - off): Decoded<DnsMessage> {
  if (off < 0 || len < 0 || off + len > buf.length) return fail('range outside the buffer');
  if (len < DNS_HEADER_LEN) return fail(`message of ${len} bytes, shorter than its 12-byte header`, off);
  const c: Cursor = { base: off, end: off + len };
  const flags = readU16(buf, off + 2);
  const qd = readU16(buf, off + 4);
  const an = readU16(buf, off + 6);
  const ns = readU16(buf, off + 8);
  const ar = readU16(buf, off + 10);
  // The smallest question is 5 bytes and the smallest record 11: counts that cannot fit are
  // refused before anything is allocated for them.
  const least = qd * 5 + (an + ns + ar) * 11;
  if (least > len - DNS_HEADER_LEN) return fail(`counts (${qd}, ${an}, ${ns}, ${ar}) need at least ${least} bytes, the message has ${len - DNS_HEADER_LEN}`, off + 4);
  let at = off + DNS_HEADER_LEN;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qd; i++) {
    const q = decodeQuestion(buf, c, at);
    if (!q.ok) return q;
    questions.push(q.value);
    at += q.length;
  }
  let edns: Edns | null = null;
  const sections: DnsRecord[][] = [[], [], []];
  const counts = [an, ns, ar];
  for (let sec = 0; sec < 3; sec++) {
    for (let i = 0; i < counts[sec]!; i++) {
      const raw = decodeRawRecord(buf, c, at);
      if (!raw.ok) return raw;
      at += raw.length;
      const r = raw.value;
      if (r.type === DNS_TYPE.OPT) {
        // RFC 6891 §6.1.1: one OPT, in the additional section only.
        if (sec !== 2) return fail('OPT record outside the additional section', at - raw.length);
        if (edns !== null) return fail('more than one OPT record', at - raw.length);
        const opt = decodeOpt(buf, r);
        if (!opt.ok) return opt;
        edns = opt.value;
        continue;
      }
      const rdata = decodeRdata(buf, c, r);
      if (!rdata.ok) return rdata;
      sections[sec]!.push({ name: r.name, type: r.type, class: r.class, ttl: r.ttl, rdata: rdata.value });
    }
  }
  return ok(
    {
      id: readU16(buf, off),
      qr: (flags & 0x8000) !== 0,
      opcode: (flags >>> 11) & 0xf,
      aa: (flags & 0x0400) !== 0,
      tc: (flags & 0x0200) !== 0,
      rd: (flags & 0x0100) !== 0,
      ra: (flags & 0x0080) !== 0,
      z: (flags & 0x0040) !== 0,
      ad: (flags & 0x0020) !== 0,
      cd: (flags & 0x0010) !== 0,
      rcode: flags & 0xf,
      questions,
      answers: sections[0]!,
      authorities: sections[1]!,
      additionals: sections[2]!,
      edns,
    },
    at - off,
  );
}

// ---------------------------------------------------------------- encoding

/**
 * One pass that both measures and writes (buf null: measure only), so that the length and
 * the bytes make the same compression choices.
 */
class Writer {
  pos = 0;
  /**
   * Suffix text → offset from the message start (RFC 1035 §4.1.4). Matched case-sensitively:
   * a pointer to "Example.com" would rewrite "example.com", and names keep their case
   * through a round trip.
   */
  private readonly suffixes = new Map<string, number>();
  constructor(
    private readonly buf: Uint8Array | null,
    private readonly base: number,
  ) {}

  u8(v: number): void {
    if (this.buf !== null) this.buf[this.base + this.pos] = v;
    this.pos += 1;
  }
  u16(v: number): void {
    if (this.buf !== null) writeU16(this.buf, this.base + this.pos, v);
    this.pos += 2;
  }
  u32(v: number): void {
    if (this.buf !== null) writeU32(this.buf, this.base + this.pos, v >>> 0);
    this.pos += 4;
  }
  bytes(b: Uint8Array): void {
    if (this.buf !== null) this.buf.set(b, this.base + this.pos);
    this.pos += b.length;
  }
  /** Patches a 16-bit field written earlier (RDLENGTH). */
  patch16(at: number, v: number): void {
    if (this.buf !== null) writeU16(this.buf, this.base + at, v);
  }

  name(text: string, compress: boolean): void {
    const labels = parseDnsName(text);
    if (typeof labels === 'string') throw new Error(`cannot encode DNS name ${JSON.stringify(text)}: ${labels}`);
    const keys = labels.map((l) => labelToText(l, 0, l.length));
    for (let i = 0; i < labels.length; i++) {
      const key = keys.slice(i).join('.');
      const known = compress ? this.suffixes.get(key) : undefined;
      if (known !== undefined) {
        this.u16(0xc000 | known);
        return;
      }
      // Pointers carry 14 bits of offset.
      if (this.pos < 0x4000 && !this.suffixes.has(key)) this.suffixes.set(key, this.pos);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }
}

function writeRdata(w: Writer, rd: DnsRdata): void {
  switch (rd.kind) {
    case 'a':
    case 'aaaa':
      w.bytes(rd.address);
      return;
    case 'ns':
    case 'cname':
    case 'ptr':
      w.name(rd.name, true);
      return;
    case 'mx':
      w.u16(rd.preference);
      w.name(rd.exchange, true);
      return;
    case 'soa':
      w.name(rd.mname, true);
      w.name(rd.rname, true);
      w.u32(rd.serial);
      w.u32(rd.refresh);
      w.u32(rd.retry);
      w.u32(rd.expire);
      w.u32(rd.minimum);
      return;
    case 'txt':
      for (const s of rd.strings) {
        w.u8(s.length);
        w.bytes(s);
      }
      return;
    case 'opaque':
      w.bytes(rd.data);
      return;
  }
}

function writeRecord(w: Writer, r: DnsRecord): void {
  w.name(r.name, true);
  w.u16(r.type);
  w.u16(r.class);
  w.u32(r.ttl);
  const lenAt = w.pos;
  w.u16(0);
  writeRdata(w, r.rdata);
  w.patch16(lenAt, w.pos - lenAt - 2);
}

function writeMessage(w: Writer, m: DnsMessage): void {
  w.u16(m.id);
  w.u16(
    (m.qr ? 0x8000 : 0) |
      ((m.opcode & 0xf) << 11) |
      (m.aa ? 0x0400 : 0) |
      (m.tc ? 0x0200 : 0) |
      (m.rd ? 0x0100 : 0) |
      (m.ra ? 0x0080 : 0) |
      (m.z ? 0x0040 : 0) |
      (m.ad ? 0x0020 : 0) |
      (m.cd ? 0x0010 : 0) |
      (m.rcode & 0xf),
  );
  w.u16(m.questions.length);
  w.u16(m.answers.length);
  w.u16(m.authorities.length);
  w.u16(m.additionals.length + (m.edns === null ? 0 : 1));
  for (const q of m.questions) {
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const r of m.answers) writeRecord(w, r);
  for (const r of m.authorities) writeRecord(w, r);
  for (const r of m.additionals) writeRecord(w, r);
  if (m.edns !== null) {
    const e = m.edns;
    w.u8(0);
    w.u16(DNS_TYPE.OPT);
    w.u16(e.udpSize);
    w.u32(((e.extendedRcode & 0xff) << 24) | ((e.version & 0xff) << 16) | (e.dnssecOk ? 0x8000 : 0) | (e.z & 0x7fff));
    let n = 0;
    for (const o of e.options) n += 4 + o.data.length;
    w.u16(n);
    for (const o of e.options) {
      w.u16(o.code);
      w.u16(o.data.length);
      w.bytes(o.data);
    }
  }
}

export function encodingLengthDns(msg: DnsMessage): number {
  const w = new Writer(null, 0);
  writeMessage(w, msg);
  return w.pos;
}

/** Writes `msg` at `off`; returns the number of bytes written. `buf` must have encodingLengthDns(msg) bytes free. */
export function encodeDns(msg: DnsMessage, buf: Uint8Array, off = 0): number {
  const w = new Writer(buf, off);
  writeMessage(w, msg);
  return w.pos;
}

/** Allocates and encodes: for the control plane, where one message is one allocation. */
export function encodeDnsToBytes(msg: DnsMessage): Uint8Array {
  const buf = new Uint8Array(encodingLengthDns(msg));
  encodeDns(msg, buf, 0);
  return buf;
}

/** A query with RD set, as a stub resolver sends it (RFC 1035 §7.2). */
export function dnsQuery(id: number, name: string, type: number, edns: Edns | null): DnsMessage {
  return {
    id,
    qr: false,
    opcode: DNS_OPCODE.QUERY,
    aa: false,
    tc: false,
    rd: true,
    ra: false,
    z: false,
    ad: false,
    cd: false,
    rcode: 0,
    questions: [{ name, type, class: DNS_CLASS.IN }],
    answers: [],
    authorities: [],
    additionals: [],
    edns,
  };
}
