/**
 * The SPD and SAD as the lanes read them, in two kinds of shared memory:
 *
 * 1. The **table snapshot** (published like the FIB, snapshot.ts): what the control plane
 *    decides — every SA's parameters and keys, the ordered policies, and an SPI hash for
 *    inbound lookup. Lanes bind an IpsecView over the current generation once per batch.
 * 2. The **SA state block** (one fixed SharedArrayBuffer, not a snapshot): what the data
 *    path writes per packet — the outbound sequence number, the replay window, per-SA
 *    counters. Each SA has a state slot for its whole life (the snapshot names it), and one
 *    writer, its home lane (DESIGN.md: "each SA has one home lane"); the control plane only
 *    reads it (show, lifetimes) and resets a slot before handing it to a new SA. The one
 *    word the control plane writes in a live slot is the outbound sequence limit (see
 *    setSeqLimit), which the lane only reads.
 *
 * Snapshot layout (int32 words from the table start, 4-byte aligned):
 *
 *   0   header: MAGIC, saCount, policyCount, sasAt, policiesAt, hashAt, hashSize, tunnelCount,
 *           tunnelsAt (words 9..15 zero)
 *   16  SAs: SA_WORDS each — spi, flags, encryption, integrity, replayWindow, homeLane,
 *           stateSlot, encKeyLen, authKeyLen, uid, tunnel src (4 words), tunnel dst (4),
 *           encKey (10 words, ≤ 40 bytes), authKey (8 words, ≤ 32 bytes), route-based tunnel
 *           index (-1: the SA serves policies), crypto path (CRYPTO_*)
 *       policies: POLICY_WORDS each, in match order — direction|action, proto, srcLen, dstLen,
 *           src (4), dst (4), srcPort lo/hi, dstPort lo/hi, icmpType, icmpCode, sa index
 *       SPI hash: hashSize words (a power of two), open addressing with linear probing;
 *           each word is an inbound SA's index, or -1
 *       tunnels: tunnelCount words, indexed by tunnel (the FIB's NH_IPSEC nexthops carry the
 *           index): the tunnel's outbound SA index, or -1 when that SA is gone
 *       SPD index (buildSpdIndex): per direction, a binary trie over the policies'
 *           destination prefixes whose marked nodes hold candidate lists, so a lookup scans
 *           only the policies whose destination can match, not the whole SPD
 *
 * An all-zero region (never published) has no MAGIC and reads as empty tables: nothing is
 * protected and no SPI is known.
 */
import { prefixMatch } from '../lib/addr.js';
import { WordViewCache } from './sab.js';

export const SA_INBOUND = 1;
export const SA_TUNNEL = 2;
export const SA_ESN = 4;

/** SaRecord.crypto: the C helper when built, else node:crypto; the C helper; node:crypto. */
export const CRYPTO_AUTO = 0;
export const CRYPTO_NATIVE = 1;
export const CRYPTO_NODE = 2;

export const DIR_OUT = 0;
export const DIR_IN = 1;

export const ACTION_BYPASS = 1;
export const ACTION_DISCARD = 2;
export const ACTION_PROTECT = 3;

/** Any protocol, port or ICMPv6 type/code. */
export const ANY = -1;
/** A selector the packet does not carry: the ports of a non-initial fragment (RFC 4301 §4.4.1, §7). */
export const OPAQUE = -2;
/** lookupPolicy(): a non-initial fragment may fall under an entry that names ports; discard it. */
export const SPD_OPAQUE_CONFLICT = -2;

export const MAX_ENC_KEY = 40;
export const MAX_AUTH_KEY = 32;

const MAGIC = 0x45535031; // "ESP1"
const HEADER_WORDS = 16;
const H_SAS = 1;
const H_POLICIES = 2;
const H_SAS_AT = 3;
const H_POLICIES_AT = 4;
const H_HASH_AT = 5;
const H_HASH_SIZE = 6;
const H_TUNNELS = 7;
const H_TUNNELS_AT = 8;
const H_INDEX_AT = 9;

const SA_WORDS = 38;
const S_SPI = 0;
const S_FLAGS = 1;
const S_ENC = 2;
const S_AUTH = 3;
const S_WINDOW = 4;
const S_HOME = 5;
const S_STATE = 6;
const S_ENC_LEN = 7;
const S_AUTH_LEN = 8;
const S_UID = 9;
const S_TUN_SRC = 10;
const S_TUN_DST = 14;
const S_ENC_KEY = 18;
const S_AUTH_KEY = 28;
const S_TUNNEL = 36;
const S_CRYPTO = 37;

const POLICY_WORDS = 20;
const P_DIR_ACTION = 0;
const P_PROTO = 1;
const P_SRC_LEN = 2;
const P_DST_LEN = 3;
const P_SRC = 4;
const P_DST = 8;
const P_SPORT_LO = 12;
const P_SPORT_HI = 13;
const P_DPORT_LO = 14;
const P_DPORT_HI = 15;
const P_ICMP_TYPE = 16;
const P_ICMP_CODE = 17;
const P_SA = 18;

export interface SaRecord {
  readonly spi: number;
  readonly inbound: boolean;
  readonly tunnel: boolean;
  readonly esn: boolean;
  /** ENC / AUTH codes from src/ipsec/algorithms.ts. */
  readonly encryption: number;
  readonly integrity: number;
  readonly replayWindow: number;
  readonly homeLane: number;
  readonly stateSlot: number;
  /** Changes whenever the SA's keys or parameters change, so lanes rebuild their cipher state. */
  readonly uid: number;
  /** Tunnel mode: the outer source and destination (16 bytes each); transport: unused zeros. */
  readonly tunnelSrc: Uint8Array;
  readonly tunnelDst: Uint8Array;
  readonly encKey: Uint8Array;
  readonly authKey: Uint8Array;
  /** The route-based tunnel (`ipsec.tunnels[]` index) this SA belongs to; absent: it serves policies. */
  readonly routedTunnel?: number;
  /** CRYPTO_AUTO (the default), CRYPTO_NATIVE or CRYPTO_NODE: which transform the lanes build. */
  readonly crypto?: number;
}

export interface PolicyRecord {
  readonly direction: number;
  readonly action: number;
  readonly proto: number;
  readonly src: Uint8Array;
  readonly srcLen: number;
  readonly dst: Uint8Array;
  readonly dstLen: number;
  readonly srcPorts: readonly [number, number];
  readonly dstPorts: readonly [number, number];
  readonly icmpType: number;
  readonly icmpCode: number;
  /** Index into the SA list for `protect`, else -1. */
  readonly sa: number;
}

function hashSizeFor(inbound: number): number {
  let size = 8;
  while (size < inbound * 2) size <<= 1;
  return size;
}

/** Knuth's multiplicative hash; SPIs are often small consecutive numbers. */
function spiSlot(spi: number, mask: number): number {
  return (Math.imul(spi, 0x9e3779b1) >>> 16) & mask;
}

/** Tunnel indices run 0..count-1; a tunnel whose SAs are all gone may leave a hole (-1). */
function tunnelCountOf(sas: readonly SaRecord[]): number {
  let count = 0;
  for (const s of sas) if (s.routedTunnel !== undefined && s.routedTunnel >= count) count = s.routedTunnel + 1;
  return count;
}

/**
 * The SPD index: for each direction, a binary trie over the destination prefixes of that
 * direction's policies. A node is 3 words — child for bit 0, child for bit 1 (0: none; the
 * root is never a child), candidate list (-1: none) — and a node that ends some policy's
 * prefix (and the root) holds a candidate list: the count, then the indices of every policy
 * of the direction whose destination prefix contains the node's prefix, in SPD order.
 *
 * A lookup walks the destination's bits and keeps the deepest list it passed: every policy
 * whose destination prefix contains the address sits at a marked node on that path, hence at
 * or above the deepest one, hence in its list. So first-match order (RFC 4301 §4.4.1) is kept
 * while the scan skips policies for other destinations. Offsets are relative to the index;
 * words 0 and 1 are the roots for DIR_OUT and DIR_IN.
 */
/** Up to this many policies in a direction, the index is one list of them all (no trie). */
const SPD_SCAN_MAX = 24;

export function buildSpdIndex(policies: readonly PolicyRecord[]): Int32Array {
  const words: number[] = [0, 0];
  const node = (): number => {
    const at = words.length;
    words.push(0, 0, -1);
    return at;
  };
  for (const direction of [DIR_OUT, DIR_IN]) {
    const mine: number[] = [];
    policies.forEach((p, i) => {
      if (p.direction === direction) mine.push(i);
    });
    const root = node();
    words[direction] = root;
    const marked: Array<{ at: number; prefix: Uint8Array; len: number }> = [{ at: root, prefix: new Uint8Array(16), len: 0 }];
    // A short SPD is scanned faster than a trie is walked (bench/spd.ts): the root alone,
    // listing every policy of the direction.
    if (mine.length <= SPD_SCAN_MAX) {
      words[root + 2] = words.length;
      words.push(mine.length, ...mine);
      continue;
    }
    for (const i of mine) {
      const p = policies[i]!;
      let at = root;
      for (let bit = 0; bit < p.dstLen; bit++) {
        const side = (p.dst[bit >> 3]! >> (7 - (bit & 7))) & 1;
        if (words[at + side] === 0) {
          const child = node();
          words[at + side] = child;
        }
        at = words[at + side]!;
      }
      if (at !== root && !marked.some((m) => m.at === at)) marked.push({ at, prefix: p.dst, len: p.dstLen });
    }
    for (const m of marked) {
      const list = mine.filter((i) => policies[i]!.dstLen <= m.len && prefixMatch(m.prefix, 0, policies[i]!.dst, 0, policies[i]!.dstLen));
      words[m.at + 2] = words.length;
      words.push(list.length, ...list);
    }
  }
  return Int32Array.from(words);
}

export function ipsecTablesByteLength(sas: readonly SaRecord[], policies: readonly PolicyRecord[]): number {
  const inbound = sas.filter((s) => s.inbound).length;
  return 4 * (HEADER_WORDS + SA_WORDS * sas.length + POLICY_WORDS * policies.length + hashSizeFor(inbound) + tunnelCountOf(sas) + buildSpdIndex(policies).length);
}

function putBytes(words: Int32Array, at: number, bytes: Uint8Array, max: number): void {
  if (bytes.length > max) throw new RangeError(`key or address of ${bytes.length} bytes exceeds ${max}`);
  const view = new Uint8Array(words.buffer, words.byteOffset + 4 * at, max);
  view.fill(0);
  view.set(bytes);
}

/** Encodes the tables at the start of `dst` (4-byte aligned); returns the bytes written. */
export function encodeIpsecTables(sas: readonly SaRecord[], policies: readonly PolicyRecord[], dst: Uint8Array): number {
  const len = ipsecTablesByteLength(sas, policies);
  if (dst.byteOffset % 4 !== 0) throw new RangeError(`IPsec tables must start 4-byte aligned, got byte offset ${dst.byteOffset}`);
  if (dst.byteLength < len) throw new RangeError(`IPsec tables need ${len} bytes, region has ${dst.byteLength}`);
  const w = new Int32Array(dst.buffer, dst.byteOffset, len >>> 2);
  w.fill(0);
  const sasAt = HEADER_WORDS;
  const policiesAt = sasAt + SA_WORDS * sas.length;
  const hashAt = policiesAt + POLICY_WORDS * policies.length;
  const hashSize = hashSizeFor(sas.filter((s) => s.inbound).length);
  const tunnelsAt = hashAt + hashSize;
  const tunnelCount = tunnelCountOf(sas);
  const indexAt = tunnelsAt + tunnelCount;
  w[0] = MAGIC;
  w[H_SAS] = sas.length;
  w[H_POLICIES] = policies.length;
  w[H_SAS_AT] = sasAt;
  w[H_POLICIES_AT] = policiesAt;
  w[H_HASH_AT] = hashAt;
  w[H_HASH_SIZE] = hashSize;
  w[H_TUNNELS] = tunnelCount;
  w[H_TUNNELS_AT] = tunnelsAt;
  w[H_INDEX_AT] = indexAt;
  w.set(buildSpdIndex(policies), indexAt);
  w.fill(-1, tunnelsAt, tunnelsAt + tunnelCount);
  sas.forEach((s, i) => {
    const a = sasAt + SA_WORDS * i;
    w[a + S_SPI] = s.spi | 0;
    w[a + S_FLAGS] = (s.inbound ? SA_INBOUND : 0) | (s.tunnel ? SA_TUNNEL : 0) | (s.esn ? SA_ESN : 0);
    w[a + S_ENC] = s.encryption;
    w[a + S_AUTH] = s.integrity;
    w[a + S_WINDOW] = s.replayWindow;
    w[a + S_HOME] = s.homeLane;
    w[a + S_STATE] = s.stateSlot;
    w[a + S_ENC_LEN] = s.encKey.length;
    w[a + S_AUTH_LEN] = s.authKey.length;
    w[a + S_UID] = s.uid;
    putBytes(w, a + S_TUN_SRC, s.tunnelSrc, 16);
    putBytes(w, a + S_TUN_DST, s.tunnelDst, 16);
    putBytes(w, a + S_ENC_KEY, s.encKey, MAX_ENC_KEY);
    putBytes(w, a + S_AUTH_KEY, s.authKey, MAX_AUTH_KEY);
    w[a + S_TUNNEL] = s.routedTunnel ?? -1;
    w[a + S_CRYPTO] = s.crypto ?? CRYPTO_AUTO;
    if (s.routedTunnel !== undefined && !s.inbound) {
      if (w[tunnelsAt + s.routedTunnel] !== -1) throw new RangeError(`two outbound SAs for tunnel ${s.routedTunnel}`);
      w[tunnelsAt + s.routedTunnel] = i;
    }
  });
  policies.forEach((p, i) => {
    const a = policiesAt + POLICY_WORDS * i;
    w[a + P_DIR_ACTION] = p.direction | (p.action << 1);
    w[a + P_PROTO] = p.proto;
    w[a + P_SRC_LEN] = p.srcLen;
    w[a + P_DST_LEN] = p.dstLen;
    putBytes(w, a + P_SRC, p.src, 16);
    putBytes(w, a + P_DST, p.dst, 16);
    w[a + P_SPORT_LO] = p.srcPorts[0];
    w[a + P_SPORT_HI] = p.srcPorts[1];
    w[a + P_DPORT_LO] = p.dstPorts[0];
    w[a + P_DPORT_HI] = p.dstPorts[1];
    w[a + P_ICMP_TYPE] = p.icmpType;
    w[a + P_ICMP_CODE] = p.icmpCode;
    w[a + P_SA] = p.sa;
  });
  w.fill(-1, hashAt, hashAt + hashSize);
  const mask = hashSize - 1;
  sas.forEach((s, i) => {
    if (!s.inbound) return;
    let h = spiSlot(s.spi, mask);
    while (w[hashAt + h] !== -1) {
      if (w[sasAt + SA_WORDS * w[hashAt + h]! + S_SPI] === (s.spi | 0)) throw new RangeError(`two inbound SAs with SPI 0x${s.spi.toString(16)}`);
      h = (h + 1) & mask;
    }
    w[hashAt + h] = i;
  });
  return len;
}

/** A lane's read-only view of one table generation. No allocation after bind(). */
export class IpsecView {
  /** The whole underlying buffer, as words and as bytes; the offsets below index both (×4 for bytes). */
  private w: Int32Array = new Int32Array(0);
  bytes: Uint8Array = new Uint8Array(0);
  private readonly views = new WordViewCache();
  private byteViews: [ArrayBufferLike | null, Uint8Array, ArrayBufferLike | null, Uint8Array] = [null, new Uint8Array(0), null, new Uint8Array(0)];
  private sasAt = 0;
  private policiesAt = 0;
  private hashAt = 0;
  private hashMask = -1;
  private tunnelsAt = 0;
  private tunnelCount = 0;
  private indexAt = 0;
  saCount = 0;
  policyCount = 0;

  bind(bytes: Uint8Array, offset: number): void {
    const absolute = bytes.byteOffset + offset;
    if (absolute % 4 !== 0) throw new RangeError(`IPsec tables must start 4-byte aligned, got byte offset ${absolute}`);
    this.w = this.views.of(bytes.buffer);
    this.bytes = this.wholeBytes(bytes.buffer);
    const base = absolute >>> 2;
    const w = this.w;
    if (base + HEADER_WORDS > w.length || w[base] !== MAGIC) {
      this.saCount = 0;
      this.policyCount = 0;
      this.hashMask = -1;
      this.tunnelCount = 0;
      return;
    }
    this.saCount = w[base + H_SAS]!;
    this.policyCount = w[base + H_POLICIES]!;
    this.sasAt = base + w[base + H_SAS_AT]!;
    this.policiesAt = base + w[base + H_POLICIES_AT]!;
    this.hashAt = base + w[base + H_HASH_AT]!;
    this.hashMask = w[base + H_HASH_SIZE]! - 1;
    this.tunnelCount = w[base + H_TUNNELS]!;
    this.tunnelsAt = base + w[base + H_TUNNELS_AT]!;
    this.indexAt = base + w[base + H_INDEX_AT]!;
  }

  /**
   * The outbound SA of route-based tunnel `t` (an NH_IPSEC nexthop's index), or -1 when the
   * tunnel has none: its SA expired or was flushed, or this generation does not know it yet.
   */
  tunnelOutSa(t: number): number {
    return t >= 0 && t < this.tunnelCount ? this.w[this.tunnelsAt + t]! : -1;
  }

  /** CRYPTO_AUTO, CRYPTO_NATIVE or CRYPTO_NODE. */
  crypto(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_CRYPTO]!;
  }

  /** The route-based tunnel an SA belongs to, or -1 for an SA that serves policies. */
  saTunnel(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_TUNNEL]!;
  }

  /** Byte views of the (two) snapshot regions, made once each. */
  private wholeBytes(buffer: ArrayBufferLike): Uint8Array {
    const v = this.byteViews;
    if (v[0] === buffer && v[1].byteLength === buffer.byteLength) return v[1];
    if (v[2] === buffer && v[3].byteLength === buffer.byteLength) return v[3];
    this.byteViews = [buffer, new Uint8Array(buffer), v[0], v[1]];
    return this.byteViews[1];
  }

  /** The inbound SA with this SPI, or -1. */
  findInbound(spi: number): number {
    if (this.hashMask < 0) return -1;
    const w = this.w;
    const s = spi | 0;
    let h = spiSlot(spi, this.hashMask);
    for (;;) {
      const i = w[this.hashAt + h]!;
      if (i < 0) return -1;
      if (w[this.sasAt + SA_WORDS * i + S_SPI] === s) return i;
      h = (h + 1) & this.hashMask;
    }
  }

  spi(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_SPI]! >>> 0;
  }
  flags(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_FLAGS]!;
  }
  encryption(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_ENC]!;
  }
  integrity(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_AUTH]!;
  }
  replayWindow(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_WINDOW]!;
  }
  homeLane(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_HOME]!;
  }
  stateSlot(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_STATE]!;
  }
  uid(sa: number): number {
    return this.w[this.sasAt + SA_WORDS * sa + S_UID]!;
  }
  /** Byte offsets into `bytes` of the tunnel endpoints. */
  tunnelSrcOffset(sa: number): number {
    return 4 * (this.sasAt + SA_WORDS * sa + S_TUN_SRC);
  }
  tunnelDstOffset(sa: number): number {
    return 4 * (this.sasAt + SA_WORDS * sa + S_TUN_DST);
  }
  /** A copy of the SA's keys (only when a lane builds its cipher state, never per packet). */
  encKey(sa: number): Uint8Array {
    const a = this.sasAt + SA_WORDS * sa;
    return this.bytes.slice(4 * (a + S_ENC_KEY), 4 * (a + S_ENC_KEY) + this.w[a + S_ENC_LEN]!);
  }
  authKey(sa: number): Uint8Array {
    const a = this.sasAt + SA_WORDS * sa;
    return this.bytes.slice(4 * (a + S_AUTH_KEY), 4 * (a + S_AUTH_KEY) + this.w[a + S_AUTH_LEN]!);
  }

  /**
   * First-match SPD lookup (RFC 4301 §4.4.1) for a packet in `direction` with the given
   * selectors; `sport`/`dport` carry ICMPv6 type/code for ICMPv6 (RFC 4301 §4.4.1.1), -1
   * for protocols with no ports, OPAQUE for a non-initial fragment (its ports are not in the
   * packet). Returns the policy index, -1 when none matches (no SPD entry: the packet is
   * not IPsec's business), or SPD_OPAQUE_CONFLICT.
   *
   * Non-initial fragments (RFC 4301 §7): with OPAQUE ports they match entries whose port and
   * ICMPv6 selectors are ANY. An earlier entry that would match on addresses and protocol but
   * names ports may be the fragment's policy — it cannot be told — so unless that entry only
   * bypasses, the lookup stops with SPD_OPAQUE_CONFLICT and the caller discards the fragment:
   * it never leaves in the clear when its datagram's first fragment was protected.
   *
   * Only the candidates of the SPD index (buildSpdIndex) are scanned: the policies whose
   * destination prefix can contain `dstOff`'s address, still in SPD order.
   */
  lookupPolicy(direction: number, b: Uint8Array, srcOff: number, dstOff: number, proto: number, sport: number, dport: number): number {
    const w = this.w;
    const bytes = this.bytes;
    if (this.policyCount === 0) return -1;
    // The deepest candidate list on the destination's path through the trie.
    const index = this.indexAt;
    let node = index + w[index + direction]!;
    let list = w[node + 2]!;
    for (let bit = 0; bit < 128; bit++) {
      const child = w[node + ((b[dstOff + (bit >> 3)]! >> (7 - (bit & 7))) & 1)]!;
      if (child === 0) break;
      node = index + child;
      if (w[node + 2]! >= 0) list = w[node + 2]!;
    }
    const count = w[index + list]!;
    for (let k = 1; k <= count; k++) {
      const i = w[index + list + k]!;
      const a = this.policiesAt + POLICY_WORDS * i;
      const pp = w[a + P_PROTO]!;
      if (pp !== ANY && pp !== proto) continue;
      if (!prefixMatch(b, srcOff, bytes, 4 * (a + P_SRC), w[a + P_SRC_LEN]!)) continue;
      if (!prefixMatch(b, dstOff, bytes, 4 * (a + P_DST), w[a + P_DST_LEN]!)) continue;
      if (sport === OPAQUE) {
        const names = w[a + P_SPORT_LO] !== ANY || w[a + P_DPORT_LO] !== ANY || w[a + P_ICMP_TYPE] !== ANY || w[a + P_ICMP_CODE] !== ANY;
        if (!names) return i;
        if (w[a + P_DIR_ACTION]! >> 1 === ACTION_BYPASS) continue;
        return SPD_OPAQUE_CONFLICT;
      }
      if (w[a + P_SPORT_LO] !== ANY && (sport < w[a + P_SPORT_LO]! || sport > w[a + P_SPORT_HI]!)) continue;
      if (w[a + P_DPORT_LO] !== ANY && (dport < w[a + P_DPORT_LO]! || dport > w[a + P_DPORT_HI]!)) continue;
      if (w[a + P_ICMP_TYPE] !== ANY && sport !== w[a + P_ICMP_TYPE]) continue;
      if (w[a + P_ICMP_CODE] !== ANY && dport !== w[a + P_ICMP_CODE]) continue;
      return i;
    }
    return -1;
  }

  policyAction(p: number): number {
    return this.w[this.policiesAt + POLICY_WORDS * p + P_DIR_ACTION]! >> 1;
  }
  policySa(p: number): number {
    return this.w[this.policiesAt + POLICY_WORDS * p + P_SA]!;
  }
}

// ---- SA state block ----------------------------------------------------------------------

/** Maximum SAs installed at once (state slots). */
export const MAX_SA_SLOTS = 256;
/** Largest replay window: RFC 4303 §3.4.3 asks for ≥ 32 and this issue for ≥ 1024. */
export const MAX_REPLAY_WINDOW = 4096;
/** Bitmap words per slot: RFC 6479's W/32 blocks plus one. */
export const REPLAY_WORDS = MAX_REPLAY_WINDOW / 32 + 1;

/** Float64 fields of a slot. */
export const ST = {
  /** Last sequence number sent (outbound), 64-bit as a number. */
  seqOut: 0,
  /** Highest authenticated sequence number received (inbound). */
  replayTop: 1,
  packets: 2,
  bytes: 3,
  replay: 4,
  integrity: 5,
  badPadding: 6,
  policyMismatch: 7,
  seqOverflow: 8,
  /** Wall-clock milliseconds of the first packet, 0 before it (RFC 4301 §4.4.2.1 use-time lifetimes). */
  firstUse: 9,
  /** Outbound packets dropped because the next sequence number reached seqLimit. */
  seqReserveWait: 10,
  /**
   * Outbound: the first sequence number the lane may not use, written by the control plane
   * only once it is durably reserved (protocols/ipsec/sequence-store.ts). Not a Float64: two
   * Uint32 halves (low, high) read and written with Atomics; see setSeqLimit.
   */
  seqLimit: 11,
} as const;
export const STATE_FIELDS = 16;

const TWO_32 = 0x1_0000_0000;

/**
 * Publishes a new outbound sequence limit for `slot` in `words` (the state block as Uint32).
 * The limit only ever rises while a slot serves one SA. The low half is stored before the
 * high half, and readSeqLimit loads the high half first, so a reader racing with a writer
 * gets either a limit that was published or one below it — never more than the control
 * plane reserved: a stale high half with a new low half is below the new limit whenever the
 * high half changed.
 */
export function setSeqLimit(words: Uint32Array, slot: number, limit: number): void {
  const i = 2 * (slot * STATE_FIELDS + ST.seqLimit);
  Atomics.store(words, i, limit % TWO_32);
  Atomics.store(words, i + 1, Math.floor(limit / TWO_32));
}

/** The outbound sequence limit of `slot` (see setSeqLimit): never above the reserved one. */
export function readSeqLimit(words: Uint32Array, slot: number): number {
  const i = 2 * (slot * STATE_FIELDS + ST.seqLimit);
  const hi = Atomics.load(words, i + 1);
  return hi * TWO_32 + Atomics.load(words, i);
}

export interface IpsecStateHandle {
  readonly sab: SharedArrayBuffer;
}

export function ipsecStateByteLength(): number {
  return MAX_SA_SLOTS * (STATE_FIELDS * 8 + REPLAY_WORDS * 4);
}

/** The per-SA mutable state: lanes write their home SAs' slots, the control plane reads. */
export class IpsecState {
  readonly f: Float64Array;
  /** The same fields as Uint32 halves, for the sequence limit's atomic access. */
  readonly words: Uint32Array;
  readonly bitmap: Uint32Array;

  constructor(readonly sab: SharedArrayBuffer) {
    if (sab.byteLength < ipsecStateByteLength()) throw new RangeError(`IPsec state needs ${ipsecStateByteLength()} bytes`);
    this.f = new Float64Array(sab, 0, MAX_SA_SLOTS * STATE_FIELDS);
    this.words = new Uint32Array(sab, 0, MAX_SA_SLOTS * STATE_FIELDS * 2);
    this.bitmap = new Uint32Array(sab, MAX_SA_SLOTS * STATE_FIELDS * 8, MAX_SA_SLOTS * REPLAY_WORDS);
  }

  static create(): IpsecState {
    return new IpsecState(new SharedArrayBuffer(ipsecStateByteLength()));
  }

  field(slot: number, field: number): number {
    return this.f[slot * STATE_FIELDS + field]!;
  }

  /**
   * Control plane, before a slot serves a new SA: the initial outbound sequence, no number
   * reserved beyond it yet (the limit is the next number), and a clean window.
   */
  reset(slot: number, initialSeq: number): void {
    this.f.fill(0, slot * STATE_FIELDS, (slot + 1) * STATE_FIELDS);
    this.f[slot * STATE_FIELDS + ST.seqOut] = initialSeq;
    this.f[slot * STATE_FIELDS + ST.replayTop] = initialSeq;
    setSeqLimit(this.words, slot, initialSeq + 1);
    this.bitmap.fill(0, slot * REPLAY_WORDS, (slot + 1) * REPLAY_WORDS);
  }

  seqLimit(slot: number): number {
    return readSeqLimit(this.words, slot);
  }

  /** Control plane: a new limit, once it is durably reserved (see setSeqLimit). */
  setSeqLimit(slot: number, limit: number): void {
    setSeqLimit(this.words, slot, limit);
  }
}
