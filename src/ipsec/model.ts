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

/** Hands out state slots and remembers which SA holds which. */
export class SaSlots {
  private readonly byIdentity = new Map<string, InstalledSa>();
  private readonly free: number[] = [];
  private nextUid = 1;

  constructor(private readonly state: IpsecState) {
    for (let s = MAX_SA_SLOTS - 1; s >= 0; s--) this.free.push(s);
  }

  /**
   * The installed SAs for `sas`: unchanged ones keep slot and uid; new ones get a reset
   * slot; the slots of SAs no longer configured are freed.
   */
  assign(sas: readonly SaConfig[], lanes: number, now: number): InstalledSa[] {
    const next = new Map<string, InstalledSa>();
    const out: InstalledSa[] = [];
    for (const sa of sas) {
      const id = saIdentity(sa);
      let installed = this.byIdentity.get(id);
      if (installed === undefined || next.has(id)) {
        const slot = this.free.pop();
        if (slot === undefined) throw new RangeError(`no free IPsec state slot (at most ${MAX_SA_SLOTS} SAs)`);
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

  /** Removes one SA (hard lifetime or flush); its slot is freed. */
  remove(sa: InstalledSa): void {
    const id = saIdentity(sa.config);
    if (this.byIdentity.get(id) === sa) {
      this.byIdentity.delete(id);
      this.release(sa);
    }
  }

  /** The SA is gone: its slot is free and its key copy zeroed. */
  private release(sa: InstalledSa): void {
    this.free.push(sa.slot);
    sa.encKey.fill(0);
    sa.authKey.fill(0);
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
