/**
 * From the `ipsec:` config to the records the lanes read (shm/ipsec-tables.ts): SAs get a
 * state slot, a home lane and a uid, and policies point at SAs by index.
 *
 * An SA keeps its state slot (sequence number, replay window, counters) across reloads as
 * long as its parameters are unchanged, so a reload that touches another SA does not reset
 * this one's sequence number — which, for an outbound SA, would make the peer drop every
 * packet as a replay (RFC 4303 §3.3.3). A changed SA gets a fresh slot and a new uid.
 */
import { parseIpv6, parsePrefix } from '../lib/addr.js';
import { ACTION_BYPASS, ACTION_DISCARD, ACTION_PROTECT, ANY, CRYPTO_AUTO, CRYPTO_NATIVE, CRYPTO_NODE, DIR_IN, DIR_OUT, MAX_SA_SLOTS, type IpsecState, type PolicyRecord, type SaRecord } from '../shm/ipsec-tables.js';
import type { IpsecConfig, PolicyConfig, SaConfig, TunnelConfig } from '../config/sections/ipsec.js';
import { AUTH, ENC } from './algorithms.js';

/** What makes two configured SAs "the same SA" for keeping its state; keys by fingerprint, never in the clear. */
export function saIdentity(sa: SaConfig): string {
  return JSON.stringify([sa.direction, sa.spi, sa.mode, sa.src, sa.dst, sa.encryption, sa.encKey.fingerprint(), sa.integrity, sa.authKey.fingerprint(), sa.esn, sa.replayWindow, sa.initialSeq]);
}

export interface InstalledSa {
  readonly config: SaConfig;
  readonly slot: number;
  readonly uid: number;
  readonly homeLane: number;
  /** Milliseconds (control-plane clock) when installed: the base of time lifetimes (RFC 4301 §4.4.2.1). */
  readonly installedAt: number;
  /**
   * The installed SA's own copy of its keys, what the table snapshots are written from;
   * zeroed when the SA goes (removed, replaced by a reload, the module stopped).
   */
  readonly encKey: Uint8Array;
  readonly authKey: Uint8Array;
}

/**
 * What SaSlots needs to know about the lanes (shm/datapath.ts, IpsecDatapath): the table
 * generation published last, and whether every lane has moved past a generation.
 */
export interface TableGenerations {
  ipsecGeneration(): number;
  lanesPast(generation: number): boolean;
}

/** A slot whose SA is gone, waiting for the lanes to leave the generations that name it. */
interface Quarantined {
  readonly slot: number;
  /** The newest generation that may name the slot's former SA: published when it was freed. */
  readonly generation: number;
}

/**
 * Hands out state slots and remembers which SA holds which.
 *
 * Nonce safety (docs/ipsec.md, "State slots and table generations"): a lane binds one table
 * generation per batch, and a lane still on an older generation seals with the old SA's keys
 * using the slot that generation names. Were that slot reset for a new SA, the old keys would
 * start again at the new SA's first sequence number, a reused AES-GCM nonce (RFC 4106 §3:
 * the IV must never repeat under a key), and an inbound SA would get a fresh replay window
 * (RFC 4303 §3.4.3). So a freed slot is quarantined until every lane has moved past the last
 * generation that named it (the lanes' snapshot acknowledgements, not a delay), and only then
 * rejoins the free list. Allocation takes the slot free the longest (never-used slots first),
 * so a slot is reused as late as possible.
 *
 * One allocator per state block (SaSlots.of): the block and the lanes outlive a module
 * instance (the `ipsec` section removed and added again), and so does the quarantine.
 */
export class SaSlots {
  private static readonly byState = new WeakMap<IpsecState, SaSlots>();
  private readonly byIdentity = new Map<string, InstalledSa>();
  /** Free slots, the longest free first. */
  private readonly free: number[] = [];
  /** Freed slots in the order they were freed. */
  private readonly quarantine: Quarantined[] = [];
  private nextUid = 1;

  constructor(
    private readonly state: IpsecState,
    private readonly generations: TableGenerations,
  ) {
    for (let s = 0; s < MAX_SA_SLOTS; s++) this.free.push(s);
  }

  /** The allocator of `state`, created on first use. */
  static of(state: IpsecState, generations: TableGenerations): SaSlots {
    let slots = SaSlots.byState.get(state);
    if (slots === undefined) {
      slots = new SaSlots(state, generations);
      SaSlots.byState.set(state, slots);
    }
    return slots;
  }

  /** Slots waiting for a lane to leave an older generation. */
  get quarantined(): number {
    return this.quarantine.length;
  }

  /**
   * The installed SAs for `sas`: unchanged ones keep slot and uid; new ones get a reset
   * slot; the slots of SAs no longer configured are quarantined. Throws, changing nothing,
   * when there are not enough free slots: the caller publishes the tables that drop the old
   * SAs first, or retries once the lanes have moved on.
   */
  assign(sas: readonly SaConfig[], lanes: number, now: number): InstalledSa[] {
    this.reclaim();
    const kept = new Set<string>();
    let fresh = 0;
    for (const sa of sas) {
      const id = saIdentity(sa);
      if (this.byIdentity.has(id) && !kept.has(id)) kept.add(id);
      else fresh++;
    }
    if (fresh > this.free.length) {
      const waiting = this.quarantine.length > 0 ? `; ${this.quarantine.length} freed slots wait for a lane still on an older table generation, so try again in a moment` : '';
      throw new RangeError(`no free IPsec state slot for ${fresh} new SAs: ${this.free.length} free of ${MAX_SA_SLOTS}${waiting}`);
    }
    const next = new Map<string, InstalledSa>();
    const out: InstalledSa[] = [];
    for (const sa of sas) {
      const id = saIdentity(sa);
      let installed = this.byIdentity.get(id);
      if (installed === undefined || next.has(id)) {
        const slot = this.free.shift()!;
        this.state.reset(slot, sa.initialSeq);
        // The home lane: one writer for the sequence number and the window (DESIGN.md, ESP).
        installed = { config: sa, slot, uid: this.nextUid++, homeLane: sa.spi % lanes, installedAt: now, encKey: sa.encKey.bytes.slice(), authKey: sa.authKey.bytes.slice() };
      }
      next.set(id, installed);
      out.push(installed);
    }
    for (const [id, old] of this.byIdentity) if (!next.has(id)) this.release(old);
    this.byIdentity.clear();
    for (const [id, sa] of next) this.byIdentity.set(id, sa);
    return out;
  }

  /** Removes one SA (hard lifetime or flush); its slot is quarantined. */
  remove(sa: InstalledSa): void {
    const id = saIdentity(sa.config);
    if (this.byIdentity.get(id) === sa) {
      this.byIdentity.delete(id);
      this.release(sa);
    }
  }

  /**
   * The SA is gone: its key copy is zeroed and its slot quarantined. The caller publishes
   * tables without it next, so the generation published now is the last that may name it.
   */
  private release(sa: InstalledSa): void {
    this.quarantine.push({ slot: sa.slot, generation: this.generations.ipsecGeneration() });
    sa.encKey.fill(0);
    sa.authKey.fill(0);
  }

  /** Quarantined slots every lane has moved past rejoin the free list, in the order they were freed. */
  private reclaim(): void {
    while (this.quarantine.length > 0 && this.generations.lanesPast(this.quarantine[0]!.generation)) {
      this.free.push(this.quarantine.shift()!.slot);
    }
  }
}

export function saRecord(sa: InstalledSa): SaRecord {
  const c = sa.config;
  const tunnel = c.mode === 'tunnel';
  return {
    spi: c.spi,
    inbound: c.direction === 'in',
    tunnel,
    esn: c.esn,
    encryption: ENC[c.encryption],
    integrity: AUTH[c.integrity],
    replayWindow: c.replayWindow,
    homeLane: sa.homeLane,
    stateSlot: sa.slot,
    uid: sa.uid,
    tunnelSrc: tunnel ? parseIpv6(c.src)! : new Uint8Array(16),
    tunnelDst: tunnel ? parseIpv6(c.dst)! : new Uint8Array(16),
    encKey: sa.encKey,
    authKey: sa.authKey,
  };
}

const CRYPTO_PATHS = { auto: CRYPTO_AUTO, native: CRYPTO_NATIVE, node: CRYPTO_NODE } as const;

/**
 * The SA records with each route-based tunnel's SAs marked by the tunnel's index (its place
 * in `ipsec.tunnels`), which is what the FIB's NH_IPSEC nexthops carry, and every SA with
 * the configured crypto path.
 */
export function saRecords(sas: readonly InstalledSa[], tunnels: readonly TunnelConfig[], crypto: keyof typeof CRYPTO_PATHS = 'auto'): SaRecord[] {
  return sas.map((sa) => {
    const c = sa.config;
    const t = tunnels.findIndex((tn) => (c.direction === 'out' ? tn.saOut : tn.saIn) === c.spi);
    const record = { ...saRecord(sa), crypto: CRYPTO_PATHS[crypto] };
    return t < 0 ? record : { ...record, routedTunnel: t };
  });
}

const ACTIONS = { protect: ACTION_PROTECT, bypass: ACTION_BYPASS, discard: ACTION_DISCARD } as const;

/**
 * Policies for the lanes. A protect policy names its SA by SPI; if that SA is gone (hard
 * lifetime, flush), the policy stays and matches with no SA, and the lane discards what it
 * covers: RFC 4301 §4.4.1 has no fallback to cleartext for protected traffic. A policy
 * with `onExpire: bypass` is published as a bypass entry instead, in both directions (the
 * outbound traffic leaves in the clear, the inbound cleartext is accepted), until its SA
 * returns; the lanes need no notion of expiry, only the control plane decides.
 */
export function policyRecords(policies: readonly PolicyConfig[], sas: readonly InstalledSa[]): PolicyRecord[] {
  return policies.map((p) => {
    const src = parsePrefix(p.src)!;
    const dst = parsePrefix(p.dst)!;
    const sa = p.sa === undefined ? -1 : sas.findIndex((s) => s.config.spi === p.sa && s.config.direction === p.direction);
    const bypassed = p.action === 'protect' && sa < 0 && p.onExpire === 'bypass';
    return {
      direction: p.direction === 'in' ? DIR_IN : DIR_OUT,
      action: bypassed ? ACTION_BYPASS : ACTIONS[p.action],
      proto: p.proto,
      src: src.addr,
      srcLen: src.len,
      dst: dst.addr,
      dstLen: dst.len,
      srcPorts: p.srcPort ?? [ANY, ANY],
      dstPorts: p.dstPort ?? [ANY, ANY],
      icmpType: p.icmpType ?? ANY,
      icmpCode: p.icmpCode ?? ANY,
      sa,
    };
  });
}

export function emptyIpsecConfig(): IpsecConfig {
  return { sas: [], policies: [], tunnels: [], crypto: 'auto' };
}
