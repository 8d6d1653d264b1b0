/**
 * The lane's ESP crypto, batched per SA: one crossing into the C helper per SA per batch
 * instead of one per packet (docs/ipsec.md).
 *
 *   seal: espOutbound() encapsulates a packet and queues it here with the transmit-list
 *         index of its frame; before the batch is transmitted, sealAll() encrypts each SA's
 *         packets in queue order (so in sequence-number order) and gives them their verdict.
 *   open: espInbound() queues a packet that passed EspStage.inboundCheck; openAll() decrypts
 *         each SA's packets in one call, and the lane takes each on in arrival order
 *         (finishOpen(): ICV verdict, replay window, decapsulation, policy).
 */
import { C } from './counters.js';
import type { EspStage } from './esp.js';
import type { PacketContext } from './packet-context.js';
import type { TxList } from './tx-list.js';
import type { Verdicts } from './verdict.js';

export class EspBatch {
  /**
   * Packets encapsulated but not yet encrypted, in queue order: the SA, what the seal needs
   * (PacketContext.espOff, ptLen, seqHi), the frame's transmit-list index, and whose verdict
   * it is (ingress port; whether it was received or originated).
   */
  private readonly sealSa: Int32Array;
  private readonly sealEsp: Int32Array;
  private readonly sealPt: Int32Array;
  private readonly sealHi: Uint32Array;
  private readonly sealTx: Int32Array;
  private readonly sealIngress: Int32Array;
  private readonly sealReceived: Uint8Array;
  private sealCount = 0;
  /**
   * Inbound packets waiting for their open: the SA, the IPv6 packet, its ESP header and
   * length, the Next Header field that named ESP, its ingress port, its sequence number and
   * Seq-hi (from inboundCheck), whether it came as a link-layer multicast (for ICMPv6 errors
   * about its inner packet), and, once opened, the plaintext length.
   */
  private readonly openSa: Int32Array;
  private readonly openIp: Int32Array;
  private readonly openEsp: Int32Array;
  private readonly openLen: Int32Array;
  private readonly openNhPointer: Int32Array;
  private readonly openPort: Int32Array;
  private readonly openSeq: Float64Array;
  private readonly openHi: Uint32Array;
  private readonly openMulticast: Uint8Array;
  private readonly openPt: Int32Array;
  private openCount = 0;
  // One SA's packets, gathered from the above into the arrays t6c_seal / t6c_open take, and their entries.
  private readonly grouped: Uint8Array;
  private readonly groupEsp: Int32Array;
  private readonly groupLen: Int32Array;
  private readonly groupHi: Uint32Array;
  private readonly groupOut: Int32Array;
  private readonly groupEntry: Int32Array;

  /** `seals`: the transmit list's capacity (every deferred seal is a queued frame); `opens`: received frames and hand-overs per batch. */
  constructor(
    seals: number,
    opens: number,
    private readonly b: Uint8Array,
    private readonly tx: TxList,
    private readonly verdicts: Verdicts,
  ) {
    this.sealSa = new Int32Array(seals);
    this.sealEsp = new Int32Array(seals);
    this.sealPt = new Int32Array(seals);
    this.sealHi = new Uint32Array(seals);
    this.sealTx = new Int32Array(seals);
    this.sealIngress = new Int32Array(seals);
    this.sealReceived = new Uint8Array(seals);
    this.openSa = new Int32Array(opens);
    this.openIp = new Int32Array(opens);
    this.openEsp = new Int32Array(opens);
    this.openLen = new Int32Array(opens);
    this.openNhPointer = new Int32Array(opens);
    this.openPort = new Int32Array(opens);
    this.openSeq = new Float64Array(opens);
    this.openHi = new Uint32Array(opens);
    this.openMulticast = new Uint8Array(opens);
    this.openPt = new Int32Array(opens);
    const group = seals > opens ? seals : opens;
    this.grouped = new Uint8Array(group);
    this.groupEsp = new Int32Array(group);
    this.groupLen = new Int32Array(group);
    this.groupHi = new Uint32Array(group);
    this.groupOut = new Int32Array(group);
    this.groupEntry = new Int32Array(group);
  }

  /** Whether sealAll() has work (only when an ESP stage encapsulated this batch). */
  get sealing(): boolean {
    return this.sealCount > 0;
  }

  /** Whether openAll() has work (only when an ESP stage is attached). */
  get opening(): boolean {
    return this.openCount > 0;
  }

  /** Queues the packet encapsulate() left in `ctx` under `sa`, whose frame is transmit-list entry `txIndex`. */
  queueSeal(sa: number, ctx: PacketContext, txIndex: number): void {
    const k = this.sealCount++;
    this.sealSa[k] = sa;
    this.sealEsp[k] = ctx.espOff;
    this.sealPt[k] = ctx.ptLen;
    this.sealHi[k] = ctx.seqHi;
    this.sealTx[k] = txIndex;
    this.sealIngress[k] = ctx.port;
    this.sealReceived[k] = ctx.received ? 1 : 0;
  }

  /**
   * Encrypts the batch's deferred packets, each SA's in one call, and gives each its verdict:
   * forwarded, or (the seal failed) dropped and taken off the transmit list, since its slot
   * holds plaintext under an ESP header.
   */
  sealAll(esp: EspStage): void {
    const n = this.sealCount;
    const v = this.verdicts;
    let failed = 0;
    this.sealCount = 0;
    this.grouped.fill(0, 0, n);
    for (let k = 0; k < n; k++) {
      if (this.grouped[k] === 1) continue;
      const sa = this.sealSa[k]!;
      const g = this.gather(this.sealSa, this.sealEsp, this.sealPt, this.sealHi, k, n);
      esp.sealBatch(sa, this.b, g, this.groupEsp, this.groupLen, this.groupHi, this.groupOut);
      for (let i = 0; i < g; i++) {
        const j = this.groupEntry[i]!;
        const ingress = this.sealIngress[j]!;
        const received = this.sealReceived[j] === 1;
        if (this.groupOut[i]! >= 0) {
          if (received) v.count(ingress, C.forwarded);
          continue;
        }
        failed++;
        this.tx.cancel(this.sealTx[j]!);
        if (received) v.count(ingress, C.esp_seal_failed);
        else v.dropOriginated(ingress);
      }
    }
    if (failed > 0) this.tx.unqueueFailed();
  }

  /**
   * Queues the ESP packet at `ip` that inboundCheck() passed under `sa`: its ESP header at
   * ctx.upperOff (espLen bytes to the packet's end), named by ctx.upperNextHeaderPointer, with
   * ctx.seq/ctx.seqHi, received on ctx.port.
   */
  queueOpen(sa: number, ip: number, espLen: number, ctx: PacketContext): void {
    const k = this.openCount++;
    this.openSa[k] = sa;
    this.openIp[k] = ip;
    this.openEsp[k] = ctx.upperOff;
    this.openLen[k] = espLen;
    this.openNhPointer[k] = ctx.upperNextHeaderPointer;
    this.openPort[k] = ctx.port;
    this.openSeq[k] = ctx.seq;
    this.openHi[k] = ctx.seqHi;
    this.openMulticast[k] = ctx.linkMulticast ? 1 : 0;
  }

  /**
   * Decrypts the waiting packets, each SA's in one call, and returns how many there are: the
   * lane then calls finishOpen() for each in turn. Taking a packet on never queues another
   * (what comes out of a tunnel is not decrypted again), so entries [0, n) stay as they are.
   */
  openAll(esp: EspStage): number {
    const n = this.openCount;
    this.openCount = 0;
    this.grouped.fill(0, 0, n);
    for (let k = 0; k < n; k++) {
      if (this.grouped[k] === 1) continue;
      const g = this.gather(this.openSa, this.openEsp, this.openLen, this.openHi, k, n);
      esp.openBatch(this.openSa[k]!, this.b, g, this.groupEsp, this.groupLen, this.groupHi, this.groupOut);
      for (let i = 0; i < g; i++) this.openPt[this.groupEntry[i]!] = this.groupOut[i]!;
    }
    return n;
  }

  /**
   * Finishes opened packet `k` (EspStage.inboundFinish) with `ctx` set up as it was received
   * (untraced: a traced packet is opened at once). Returns inboundFinish's result, with
   * ctx.ip/ctx.len set, and the SA in ctx.sa.
   */
  finishOpen(esp: EspStage, k: number, ctx: PacketContext): number {
    ctx.receivedOn(this.openPort[k]!, this.openMulticast[k] === 1, -1);
    const sa = this.openSa[k]!;
    ctx.sa = sa;
    return esp.inboundFinish(this.b, this.openIp[k]!, this.openEsp[k]!, this.openNhPointer[k]!, sa, this.openSeq[k]!, this.openPt[k]!, ctx);
  }

  /**
   * Puts in groupEntry, in order, entry k and every later entry of `sas[0, n)` with its SA
   * that is not grouped yet, marks them grouped, and copies their ESP offset, length and
   * Seq-hi into groupEsp, groupLen and groupHi; returns how many. A batch meets few SAs, so a
   * scan per SA is cheaper than an index.
   */
  private gather(sas: Int32Array, esp: Int32Array, len: Int32Array, hi: Uint32Array, k: number, n: number): number {
    const sa = sas[k]!;
    let g = 0;
    for (let j = k; j < n; j++) {
      if (sas[j] !== sa || this.grouped[j] === 1) continue;
      this.grouped[j] = 1;
      this.groupEntry[g] = j;
      this.groupEsp[g] = esp[j]!;
      this.groupLen[g] = len[j]!;
      this.groupHi[g] = hi[j]!;
      g++;
    }
    return g;
  }
}
