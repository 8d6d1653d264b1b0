/**
 * The ESP stage of a lane (RFC 4303; RFC 4301 processing model), over packets in pool slots.
 *
 *   inbound  (ESP addressed to the router): SPI → SA (SAD hash) → home-lane check → replay
 *            check (inboundCheck) → verify and decrypt in place (openBatch, or at once in
 *            inbound()) → replay update (inboundFinish) → trailer → decapsulate
 *            (tunnel: the inner packet, which the lane processes again; transport: the
 *            original packet rebuilt in place, which the lane punts) → inbound SPD check
 *            that the packet came under the policy that requires this SA (RFC 4301 §5.2); an SA
 *            of a route-based tunnel has no policy, and the lane checks instead that the
 *            inner source is routed into that tunnel (routedTunnelOf, lane.ts).
 *   route-based (FIB verdict NH_IPSEC): the tunnel's outbound SA, no SPD lookup.
 *   outbound (after the FIB verdict): SPD lookup → protect: encapsulate in place using the
 *            headroom (tunnel: a new outer IPv6 header in front; transport: the IPv6
 *            header moves forward to make room for ESP behind it) → next sequence number →
 *            the lane routes the outer packet → encrypt: at once, or (the lane's way) once
 *            per SA per batch, before the batch is transmitted (sealBatch).
 *
 * Results are numbers, never objects: ≥ 0 is an offset or an index, and a drop is the
 * negated counter index from counters.ts (every failure is counted by reason, never logged).
 * What else a step finds out about the packet (where it now is, its sequence number, what
 * the deferred seal needs) goes into the PacketContext the caller passes (packet-context.ts).
 * The stage writes only the state of SAs whose home lane is this lane, so sequence numbers
 * and replay windows have a single writer.
 *
 * Crypto: each SA's transform is built when the SA appears in a new table generation — on
 * table change, not per packet — on the path its record names (`ipsec.crypto`): the C
 * helper (ipsec/native-transform.ts, one reused OpenSSL context per SA) or node:crypto
 * (ipsec/transform.ts), which allocates per packet and is the fallback. The lane batches
 * the crypto per SA: outbound it defers the encryption of what encapsulate() prepared and
 * seals each SA's packets of a batch in one call (sealBatch); inbound it runs inboundCheck
 * as it meets a packet, opens each SA's packets in one call (openBatch), then inboundFinish.
 */
import { ESP_HEADER_LEN, ESP_NEXT_HEADER_IPV6, ESP_BAD_PADDING, checkEspTrailer, espPadLength, writeEspTrailer } from '../wire/esp.js';
import { IPV6_HEADER_LEN, IP6_OFF_DST, IP6_OFF_NEXT_HEADER, IP6_OFF_PAYLOAD_LEN, IP6_OFF_SRC, IP6_OFF_HOP_LIMIT, IPPROTO } from '../wire/ipv6.js';
import {
  isWalkedExtensionHeader,
  walkExtensionHeaders,
  WALK_FRAGMENT_HEADER,
  WALK_OK,
  WALK_OUT_SIZE,
  WALK_UPPER_NEXT_HEADER_POINTER,
  WALK_UPPER_OFFSET,
  WALK_UPPER_PROTOCOL,
} from '../wire/ext-headers.js';
import { readU32, writeU32 } from '../wire/bytes.js';
import { replayCheck, replayUpdate } from '../ipsec/replay.js';
import { OPEN_INTEGRITY_FAILED, SEAL_FAILED, type EspTransform } from '../ipsec/transform.js';
import { makeTransform } from '../ipsec/native-transform.js';
import { encryptionByCode, integrityByCode } from '../ipsec/algorithms.js';
import {
  CRYPTO_NATIVE,
  CRYPTO_NODE,
  ACTION_DISCARD,
  ACTION_PROTECT,
  DIR_IN,
  DIR_OUT,
  OPAQUE,
  REPLAY_WORDS,
  SPD_OPAQUE_CONFLICT,
  SA_ESN,
  SA_TUNNEL,
  ST,
  STATE_FIELDS,
  readSeqLimit,
  type IpsecState,
  type IpsecView,
} from '../shm/ipsec-tables.js';
import { C } from './counters.js';
import type { PacketContext } from './packet-context.js';

/** Inbound results besides drops: what the lane does with the packet at ctx.ip, ctx.len next. */
export const ESP_IN_TUNNEL = 1;
export const ESP_IN_TRANSPORT = 2;
/** Outbound: no policy applies, or a bypass policy: forward as usual. */
export const ESP_BYPASS = -1_000_000;
/** lookup(): the header chain is malformed, so the selectors cannot be read. */
const SPD_BAD_CHAIN = -3;

/** Outer hop limit of tunnel packets (RFC 8200 §3: the sender's choice; Linux's default). */
const TUNNEL_HOP_LIMIT = 64;
const TWO_32 = 0x1_0000_0000;
const SEQ_MAX_32 = 0xffff_ffff;

export class EspStage {
  /** The extension-header walk's output: scratch of locateUpperLayer() and the SPD lookup. */
  private readonly walk = new Int32Array(WALK_OUT_SIZE);
  private transforms: (EspTransform | null)[] = [];
  private uids: number[] = [];
  /** The crypto path each transform was built on: a reload may change `ipsec.crypto` alone. */
  private cryptos: number[] = [];
  private view: IpsecView | null = null;
  private readonly f: Float64Array;
  private readonly words: Uint32Array;
  private readonly bitmap: Uint32Array;

  constructor(
    state: IpsecState,
    private readonly lane: number,
  ) {
    this.f = state.f;
    this.words = state.words;
    this.bitmap = state.bitmap;
  }

  /** True when any policy exists: the lane skips the outbound lookup entirely otherwise. */
  get active(): boolean {
    return this.view !== null && this.view.policyCount > 0;
  }

  /** Binds a table generation; rebuilds cipher state only for SAs whose uid or crypto path changed. */
  bind(view: IpsecView): void {
    this.view = view;
    const n = view.saCount;
    if (this.transforms.length !== n) {
      for (const t of this.transforms) t?.dispose();
      this.transforms = new Array<EspTransform | null>(n).fill(null);
      this.uids = new Array<number>(n).fill(0);
      this.cryptos = new Array<number>(n).fill(-1);
    }
    for (let sa = 0; sa < n; sa++) {
      const uid = view.uid(sa);
      const crypto = view.crypto(sa);
      if (this.uids[sa] === uid && this.cryptos[sa] === crypto && this.transforms[sa] !== null) continue;
      this.uids[sa] = uid;
      this.cryptos[sa] = crypto;
      this.transforms[sa]?.dispose();
      const keys = { encryption: encryptionByCode(view.encryption(sa))!, integrity: integrityByCode(view.integrity(sa))!, encKey: view.encKey(sa), authKey: view.authKey(sa) };
      this.transforms[sa] = makeTransform(keys, (view.flags(sa) & SA_ESN) !== 0, crypto === CRYPTO_NATIVE ? 'native' : crypto === CRYPTO_NODE ? 'node' : 'auto');
      // The transform keeps copies of its own; these were only for building it.
      keys.encKey.fill(0);
      keys.authKey.fill(0);
    }
  }

  /**
   * Finds the upper-layer header of the packet at `ip`, past any extension headers (RFC 4301
   * §4.4.1.1 takes the selectors from it; ESP behind a Destination Options header is still
   * ESP). Returns its protocol — for a non-initial fragment, the Fragment header's Next
   * Header — with ctx.upperOff, ctx.upperNextHeaderPointer and ctx.fragmented set, or -1 when
   * the chain is malformed.
   */
  locateUpperLayer(b: Uint8Array, ip: number, ipLen: number, ctx: PacketContext): number {
    const proto = this.upperLayer(b, ip, ipLen);
    if (proto < 0) return proto;
    const walk = this.walk;
    ctx.upperOff = walk[WALK_UPPER_OFFSET]!;
    ctx.upperNextHeaderPointer = walk[WALK_UPPER_NEXT_HEADER_POINTER]!;
    ctx.fragmented = walk[WALK_FRAGMENT_HEADER]! >= 0;
    return proto;
  }

  /** locateUpperLayer() into this stage's walk output only (the SPD lookup's selectors). */
  private upperLayer(b: Uint8Array, ip: number, ipLen: number): number {
    const nextHeader = b[ip + IP6_OFF_NEXT_HEADER]!;
    const walk = this.walk;
    if (!isWalkedExtensionHeader(nextHeader)) {
      walk[WALK_UPPER_OFFSET] = ip + IPV6_HEADER_LEN;
      walk[WALK_UPPER_NEXT_HEADER_POINTER] = IP6_OFF_NEXT_HEADER;
      walk[WALK_FRAGMENT_HEADER] = -1;
      return nextHeader;
    }
    if (walkExtensionHeaders(b, ip, ipLen, walk) !== WALK_OK) return -1;
    return walk[WALK_UPPER_PROTOCOL]!;
  }

  /**
   * The ESP packet at `ip` (addressed to the router; ESP directly behind the IPv6 header or
   * behind extension headers), all of it at once: inboundCheck, open, inboundFinish. Returns
   * ESP_IN_TUNNEL or ESP_IN_TRANSPORT with ctx.ip/ctx.len set, or −(drop counter).
   */
  inbound(b: Uint8Array, ip: number, ipLen: number, ctx: PacketContext): number {
    if (this.locateUpperLayer(b, ip, ipLen, ctx) !== IPPROTO.ESP || ctx.fragmented) return -C.esp_bad_inner;
    const esp = ctx.upperOff;
    const espLen = ip + ipLen - esp;
    const sa = this.inboundCheck(b, esp, espLen, ctx);
    return sa < 0 ? sa : this.inboundOpen(b, ip, esp, espLen, ctx.upperNextHeaderPointer, sa, ctx);
  }

  /** The rest of inbound() for the packet inboundCheck() just passed under `sa`: open it alone, then inboundFinish. */
  inboundOpen(b: Uint8Array, ip: number, esp: number, espLen: number, nhPointer: number, sa: number, ctx: PacketContext): number {
    const ptLen = this.transforms[sa]!.open(b, esp, espLen, ctx.seqHi);
    return this.inboundFinish(b, ip, esp, nhPointer, sa, ctx.seq, ptLen, ctx);
  }

  /**
   * Inbound up to the decryption, for the ESP header at `esp` (espLen bytes to the packet's
   * end): SPI → SA, home lane, replay check (RFC 4303 §3.4.3: before the ICV). Returns the SA,
   * with ctx.seq/ctx.seqHi set for its open and inboundFinish, or −(drop counter);
   * −esp_wrong_lane with ctx.sa naming the SA for the lane to hand it over.
   */
  inboundCheck(b: Uint8Array, esp: number, espLen: number, ctx: PacketContext): number {
    const view = this.view;
    if (view === null || espLen < ESP_HEADER_LEN) return -C.esp_unknown_spi;
    const sa = view.findInbound(readU32(b, esp));
    if (sa < 0) return -C.esp_unknown_spi;
    // Single writer per SA: a packet met on another lane goes to the home lane (ctx.sa
    // names the SA so that the lane can hand it over).
    ctx.sa = sa;
    if (view.homeLane(sa) !== this.lane) return -C.esp_wrong_lane;
    const slot = view.stateSlot(sa);
    const f = this.f;
    const s = slot * STATE_FIELDS;
    const esn = (view.flags(sa) & SA_ESN) !== 0;
    const window = view.replayWindow(sa);
    const seqLo = readU32(b, esp + 4);
    let seq: number;
    if (window > 0) {
      seq = replayCheck(this.bitmap, slot * REPLAY_WORDS, window, f[s + ST.replayTop]!, seqLo, esn);
      if (seq < 0) {
        f[s + ST.replay]!++;
        return -C.esp_replay;
      }
    } else {
      // No anti-replay (RFC 4303 §3.4.3: the receiver may disable it): the high half is
      // taken as the one in use, which is all a receiver without a window can do.
      seq = esn ? Math.floor(f[s + ST.replayTop]! / TWO_32) * TWO_32 + seqLo : seqLo;
    }
    ctx.seq = seq;
    ctx.seqHi = esn ? Math.floor(seq / TWO_32) : 0;
    return sa;
  }

  /**
   * Opens `n` packets of SA `sa` that inboundCheck() passed, in one call of the transform
   * (one crossing into the C helper): packet i's ESP header at espOff[i], espLen[i] bytes,
   * Seq-hi seqHi[i] (its ctx.seqHi). outLen[i] is the plaintext length, or OPEN_INTEGRITY_FAILED.
   */
  openBatch(sa: number, b: Uint8Array, n: number, espOff: Int32Array, espLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    this.transforms[sa]!.openBatch(b, n, espOff, espLen, seqHi, outLen);
  }

  /**
   * Inbound after the decryption of the packet at `ip`, whose ESP header is at `esp` and is
   * named by the Next Header field `nhPointer` bytes into the packet, under `sa`: `seq` is the
   * ctx.seq its inboundCheck() found, `ptLen` what open returned. ICV verdict → replay window
   * update → trailer → decapsulation → inbound SPD check. Returns ESP_IN_TUNNEL or
   * ESP_IN_TRANSPORT with ctx.ip/ctx.len set, or −(drop counter).
   */
  inboundFinish(b: Uint8Array, ip: number, esp: number, nhPointer: number, sa: number, seq: number, ptLen: number, ctx: PacketContext): number {
    const view = this.view!;
    const t = this.transforms[sa]!;
    const slot = view.stateSlot(sa);
    const f = this.f;
    const s = slot * STATE_FIELDS;
    const flags = view.flags(sa);
    const window = view.replayWindow(sa);
    const words = slot * REPLAY_WORDS;
    if (ptLen === OPEN_INTEGRITY_FAILED) {
      f[s + ST.integrity]!++;
      return -C.esp_integrity;
    }
    if (window > 0) {
      // §3.4.3: the window moves only for packets whose ICV verified. A packet checked while
      // an earlier one of its batch was still unverified is checked again against the moved
      // window: a duplicate within the batch is caught here, and a number the window now
      // places elsewhere (ESN) is one it has left behind.
      if (replayCheck(this.bitmap, words, window, f[s + ST.replayTop]!, seq % TWO_32, (flags & SA_ESN) !== 0) !== seq) {
        f[s + ST.replay]!++;
        return -C.esp_replay;
      }
      f[s + ST.replayTop] = replayUpdate(this.bitmap, words, window, f[s + ST.replayTop]!, seq);
    } else if (seq > f[s + ST.replayTop]!) {
      f[s + ST.replayTop] = seq;
    }
    const pt = esp + ESP_HEADER_LEN + t.ivLen;
    const payloadLen = checkEspTrailer(b, pt, ptLen);
    if (payloadLen === ESP_BAD_PADDING) {
      f[s + ST.badPadding]!++;
      return -C.esp_bad_padding;
    }
    const nextHeader = b[pt + ptLen - 1]!;
    f[s + ST.packets]!++;
    f[s + ST.bytes] = f[s + ST.bytes]! + payloadLen;
    if ((flags & SA_TUNNEL) !== 0) {
      // RFC 4303 §2.6: a tunnel SA carries IPv6 (41); 59 is a dummy packet to discard.
      if (nextHeader !== ESP_NEXT_HEADER_IPV6) return -C.esp_bad_inner;
      if (payloadLen < IPV6_HEADER_LEN || b[pt]! >> 4 !== 6) return -C.esp_bad_inner;
      const innerLen = IPV6_HEADER_LEN + ((b[pt + IP6_OFF_PAYLOAD_LEN]! << 8) | b[pt + IP6_OFF_PAYLOAD_LEN + 1]!);
      if (innerLen > payloadLen) return -C.esp_bad_inner;
      ctx.ip = pt;
      ctx.len = innerLen;
    } else {
      if (nextHeader === IPPROTO.NONE) return -C.esp_bad_inner;
      // Transport: the IPv6 header and any extension headers before ESP move up against the
      // payload, with the ESP trailer's Next Header in the field that named ESP (50).
      const headers = esp - ip;
      const newIp = pt - headers;
      b.copyWithin(newIp, ip, esp);
      b[newIp + nhPointer] = nextHeader;
      const newPayloadLen = headers - IPV6_HEADER_LEN + payloadLen;
      b[newIp + IP6_OFF_PAYLOAD_LEN] = newPayloadLen >> 8;
      b[newIp + IP6_OFF_PAYLOAD_LEN + 1] = newPayloadLen & 0xff;
      ctx.ip = newIp;
      ctx.len = IPV6_HEADER_LEN + newPayloadLen;
    }
    // A route-based tunnel's SA: no policy names it; its selector is the tunnel's routes,
    // which the lane checks against the FIB.
    if (view.saTunnel(sa) >= 0) return (flags & SA_TUNNEL) !== 0 ? ESP_IN_TUNNEL : ESP_IN_TRANSPORT;
    // RFC 4301 §5.2 step 4: the decrypted packet must match an inbound policy that
    // requires this very SA; anything else is dropped even though it authenticated.
    const policy = this.lookup(DIR_IN, b, ctx.ip, ctx.len);
    // A negative result (no entry, an opaque fragment, a malformed chain) is not "under the policy".
    if (policy < 0 || view.policyAction(policy) !== ACTION_PROTECT || view.policySa(policy) !== sa) {
      f[s + ST.policyMismatch]!++;
      return -C.esp_policy_mismatch;
    }
    return (flags & SA_TUNNEL) !== 0 ? ESP_IN_TUNNEL : ESP_IN_TRANSPORT;
  }

  /**
   * A cleartext packet arriving for local delivery or forwarding: if an inbound policy says
   * its traffic must come protected, it is a policy violation (RFC 4301 §5.2 step 3a).
   * Returns 0, or −(drop counter).
   */
  inboundCleartext(b: Uint8Array, ip: number, ipLen: number): number {
    if (!this.active) return 0;
    const policy = this.lookup(DIR_IN, b, ip, ipLen);
    if (policy === SPD_OPAQUE_CONFLICT) return -C.esp_selector_opaque;
    if (policy === SPD_BAD_CHAIN) return -C.ext_header_chain;
    if (policy < 0) return 0;
    const action = this.view!.policyAction(policy);
    if (action === ACTION_PROTECT) return -C.esp_policy_mismatch;
    if (action === ACTION_DISCARD) return -C.esp_policy_discard;
    return 0;
  }

  /**
   * Outbound SPD lookup for the packet at `ip`. Returns the SA index to protect it with,
   * ESP_BYPASS, or −(drop counter) for discard (and for protect whose SA is gone: RFC 4301
   * §4.4.1 gives protected traffic no way out in cleartext).
   */
  outbound(b: Uint8Array, ip: number, ipLen: number): number {
    const policy = this.lookup(DIR_OUT, b, ip, ipLen);
    if (policy === SPD_OPAQUE_CONFLICT) return -C.esp_selector_opaque;
    if (policy === SPD_BAD_CHAIN) return -C.ext_header_chain;
    if (policy < 0) return ESP_BYPASS;
    const view = this.view!;
    const action = view.policyAction(policy);
    if (action === ACTION_DISCARD) return -C.esp_policy_discard;
    if (action !== ACTION_PROTECT) return ESP_BYPASS;
    const sa = view.policySa(policy);
    return sa < 0 ? -C.esp_policy_discard : sa;
  }

  /** The route-based tunnel of SA `sa` (its index, as NH_IPSEC nexthops carry it), or -1. */
  routedTunnelOf(sa: number): number {
    return this.view!.saTunnel(sa);
  }

  /** The outbound SA of route-based tunnel `t`, or -1 when it has none (gone, or not yet published). */
  tunnelOutSa(t: number): number {
    const view = this.view;
    return view === null ? -1 : view.tunnelOutSa(t);
  }

  /** Counts, on a home-lane SA, a decrypted packet the lane refused by its selectors. */
  countPolicyMismatch(sa: number): void {
    this.f[this.view!.stateSlot(sa) * STATE_FIELDS + ST.policyMismatch]!++;
  }

  isTunnel(sa: number): boolean {
    return (this.view!.flags(sa) & SA_TUNNEL) !== 0;
  }

  /** The table bytes that tunnelDstOffset() indexes. */
  tableBytes(): Uint8Array {
    return this.view!.bytes;
  }

  tunnelDstOffset(sa: number): number {
    return this.view!.tunnelDstOffset(sa);
  }

  /** The SA's home lane, for the lane to decide whether to hand the packet over. */
  homeLane(sa: number): number {
    return this.view!.homeLane(sa);
  }

  /** Bytes the SA adds to a packet of `len` (ICMPv6 Packet Too Big subtracts it from the MTU). */
  overhead(sa: number, len: number): number {
    const t = this.transforms[sa]!;
    const tunnel = (this.view!.flags(sa) & SA_TUNNEL) !== 0;
    const inner = tunnel ? len : len - IPV6_HEADER_LEN;
    return (tunnel ? IPV6_HEADER_LEN : 0) + ESP_HEADER_LEN + t.ivLen + espPadLength(inner, t.blockSize) + 2 + t.icvLen;
  }

  /**
   * Encapsulates the packet at `ip` under SA `sa` in place: the headroom in front takes the
   * new headers, the slot's tail the trailer and ICV. Sets ctx.ip/ctx.len (the final length:
   * the ESP length does not depend on the ciphertext) and returns ctx.ip, or −(drop counter).
   * With `deferSeal` the packet is left unencrypted, described by ctx.espOff, ctx.ptLen and
   * ctx.seqHi, for the caller to seal with the rest of the SA's batch (sealBatch) or alone
   * (sealOut) before anything reads or sends it; otherwise it is sealed here.
   */
  encapsulate(b: Uint8Array, ip: number, ipLen: number, sa: number, ctx: PacketContext, deferSeal = false): number {
    const view = this.view!;
    const t = this.transforms[sa]!;
    const flags = view.flags(sa);
    const f = this.f;
    const slot = view.stateSlot(sa);
    const s = slot * STATE_FIELDS;
    const seq = f[s + ST.seqOut]! + 1;
    // RFC 4303 §3.3.3: without ESN the counter must not cycle; the SA is spent (a new one
    // must be keyed). With ESN the 64-bit space outlives any SA.
    if ((flags & SA_ESN) === 0 && seq > SEQ_MAX_32) {
      f[s + ST.seqOverflow]!++;
      return -C.esp_seq_overflow;
    }
    // Write-ahead reservation: only numbers below the limit are durably reserved, so only
    // they are sure not to have been used before a crash (a repeat would repeat a GCM nonce).
    // At the limit the packet waits for the control plane's next reservation: it is dropped.
    if (seq >= readSeqLimit(this.words, slot)) {
      f[s + ST.seqReserveWait]!++;
      return -C.esp_seq_reserve_wait;
    }
    f[s + ST.seqOut] = seq;
    const seqHi = Math.floor(seq / TWO_32);
    const tunnel = (flags & SA_TUNNEL) !== 0;
    const hdr = ESP_HEADER_LEN + t.ivLen;
    let outIp: number;
    let pt: number;
    let payloadLen: number;
    let nextHeader: number;
    if (tunnel) {
      outIp = ip - hdr - IPV6_HEADER_LEN;
      pt = ip;
      payloadLen = ipLen;
      nextHeader = ESP_NEXT_HEADER_IPV6;
      // Outer header (RFC 4301 §5.1.2.1): traffic class copied from the inner one, a fresh
      // hop limit, the SA's tunnel endpoints.
      b[outIp] = b[ip]!;
      b[outIp + 1] = b[ip + 1]! & 0xf0;
      b[outIp + 2] = 0;
      b[outIp + 3] = 0;
      b[outIp + IP6_OFF_HOP_LIMIT] = TUNNEL_HOP_LIMIT;
      const vb = view.bytes;
      b.set(vb.subarray(view.tunnelSrcOffset(sa), view.tunnelSrcOffset(sa) + 16), outIp + IP6_OFF_SRC);
      b.set(vb.subarray(view.tunnelDstOffset(sa), view.tunnelDstOffset(sa) + 16), outIp + IP6_OFF_DST);
    } else {
      outIp = ip - hdr;
      pt = ip + IPV6_HEADER_LEN;
      payloadLen = ipLen - IPV6_HEADER_LEN;
      nextHeader = b[ip + IP6_OFF_NEXT_HEADER]!;
      b.copyWithin(outIp, ip, ip + IPV6_HEADER_LEN);
    }
    const esp = outIp + IPV6_HEADER_LEN;
    b[outIp + IP6_OFF_NEXT_HEADER] = IPPROTO.ESP;
    writeU32(b, esp, view.spi(sa));
    writeU32(b, esp + 4, seq % TWO_32);
    const pad = espPadLength(payloadLen, t.blockSize);
    const ptLen = payloadLen + writeEspTrailer(b, pt + payloadLen, pad, nextHeader);
    // RFC 4303 §2: SPI, Seq, IV, then the ciphertext and the ICV.
    const espLen = hdr + ptLen + t.icvLen;
    b[outIp + IP6_OFF_PAYLOAD_LEN] = espLen >> 8;
    b[outIp + IP6_OFF_PAYLOAD_LEN + 1] = espLen & 0xff;
    f[s + ST.packets]!++;
    f[s + ST.bytes] = f[s + ST.bytes]! + payloadLen;
    ctx.ip = outIp;
    ctx.len = IPV6_HEADER_LEN + espLen;
    ctx.espOff = esp;
    ctx.ptLen = ptLen;
    // Seq-hi is authenticated only with ESN (RFC 4303 §2.2.1).
    ctx.seqHi = (flags & SA_ESN) !== 0 ? seqHi : 0;
    if (deferSeal) return outIp;
    const sealed = this.sealOut(b, sa, ctx);
    return sealed < 0 ? sealed : outIp;
  }

  /** Seals the packet encapsulate() left unencrypted and described in `ctx`, under its SA `sa`. Returns 0, or −(drop counter). */
  sealOut(b: Uint8Array, sa: number, ctx: PacketContext): number {
    return this.transforms[sa]!.seal(b, ctx.espOff, ctx.ptLen, ctx.seqHi) === SEAL_FAILED ? -C.esp_seal_failed : 0;
  }

  /**
   * Seals `n` packets of SA `sa` that encapsulate() left unencrypted, in one call of the
   * transform (one crossing into the C helper): packet i's ctx.espOff, ctx.ptLen, ctx.seqHi in
   * espOff[i], ptLen[i], seqHi[i]. outLen[i] is its ESP length, or SEAL_FAILED.
   */
  sealBatch(sa: number, b: Uint8Array, n: number, espOff: Int32Array, ptLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    this.transforms[sa]!.sealBatch(b, n, espOff, ptLen, seqHi, outLen);
  }

  /**
   * The SPD selectors of the packet at `ip` (RFC 4301 §4.4.1.1): the upper-layer protocol
   * past any extension headers, then its ports or ICMPv6 type/code. A non-initial fragment
   * carries no ports, nor does a packet cut short before them: both are OPAQUE (§7). Returns
   * the policy, -1 for none, SPD_OPAQUE_CONFLICT, or SPD_BAD_CHAIN.
   */
  private lookup(direction: number, b: Uint8Array, ip: number, ipLen: number): number {
    const view = this.view;
    if (view === null || view.policyCount === 0) return -1;
    const proto = this.upperLayer(b, ip, ipLen);
    if (proto < 0) return SPD_BAD_CHAIN;
    const l4 = this.walk[WALK_UPPER_OFFSET]!;
    const end = ip + ipLen;
    let sport = -1;
    let dport = -1;
    if (proto === IPPROTO.UDP || proto === IPPROTO.TCP) {
      if (l4 >= 0 && l4 + 4 <= end) {
        sport = (b[l4]! << 8) | b[l4 + 1]!;
        dport = (b[l4 + 2]! << 8) | b[l4 + 3]!;
      } else {
        sport = OPAQUE;
        dport = OPAQUE;
      }
    } else if (proto === IPPROTO.ICMPV6) {
      if (l4 >= 0 && l4 + 2 <= end) {
        sport = b[l4]!;
        dport = b[l4 + 1]!;
      } else {
        sport = OPAQUE;
        dport = OPAQUE;
      }
    } else if (l4 < 0) {
      // A later fragment of another protocol: whatever it carries is opaque too.
      sport = OPAQUE;
      dport = OPAQUE;
    }
    return view.lookupPolicy(direction, b, ip + IP6_OFF_SRC, ip + IP6_OFF_DST, proto, sport, dport);
  }
}

