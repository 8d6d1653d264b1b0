/**
 * Outbound ESP sequence numbers that are never used twice under the same keys, whatever
 * the traffic rate, a stall of the control plane or a `kill -9` (RFC 4303 §3.3.3, §2.2.1:
 * the sender must not let the counter cycle, and with manual keying the counter state must
 * be kept across a restart). A repeated number is worse than a drop by the peer's
 * anti-replay: GCM builds its nonce from the sequence number, so a repeat under the same key
 * reuses a nonce.
 *
 * The guarantee is a write-ahead reservation. Each outbound SA has a high-water mark on disk:
 * every number below it may have been used, none at or above it has been. The lane may use a
 * number only below its SA's limit (the state block's `seqLimit`), and the control plane
 * raises that limit only after the raised mark is durable. So whatever the lane sent before a
 * crash lies below the mark on disk, and a restart continues from the mark. A lane that
 * reaches the limit drops the packet (`esp_seq_reserve_wait`) rather than use a number that
 * is not reserved.
 *
 * The file, `sequence.json` in the module's state directory, maps a SHA-256 fingerprint of
 * an SA's SPI, destination, algorithms and keys (the keys themselves never reach the disk)
 * to its mark. Keying by the fingerprint keeps the marks of old keys too, so a config that
 * goes back to earlier keys goes on past their mark rather than starting again. It is
 * replaced durably (lib/durable-file.ts) on each reservation.
 *
 * Only outbound SAs are kept. An inbound SA's replay window is not: it only protects the
 * receiver, and it is the peer's sender that must not repeat numbers (its own duty under
 * RFC 4303 §3.3.3), so a fresh window after a restart accepts nothing the peer would not
 * have sent anyway.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SaConfig } from '../../config/sections/ipsec.js';
import type { InstalledSa } from '../../ipsec/model.js';
import { ST, STATE_FIELDS, type IpsecState } from '../../shm/ipsec-tables.js';
import { writeFileDurably } from '../../lib/durable-file.js';

/** How often the control plane checks whether an SA needs a new reservation. */
export const RESERVE_CHECK_MS = 100;
/** The smallest reservation ahead of the next number: what an idle SA gets. */
export const MIN_RESERVATION = 2 ** 16;
/**
 * A reservation covers this long at the SA's measured rate, and a new one is made once less
 * than half of it is left: at a steady rate the lane has about a second of numbers ahead of
 * it, so a control plane that stalls for less than that costs no packet.
 */
export const RESERVE_AHEAD_MS = 2000;

const TWO_32 = 2 ** 32;
/** Without ESN the numbers end at 2³²−1 (RFC 4303 §3.3.3: the SA is then spent). */
const END_32 = TWO_32;
/** With ESN, as far as a JS number counts exactly (285 years at 1 Mpps). */
const END_ESN = Number.MAX_SAFE_INTEGER;

/**
 * Version 1 saved the last number sent once a second and restarted 2¹⁶ past it. Such an entry
 * is read as the mark that version would have continued from: saved + 2¹⁶ + 1.
 */
const V1_RESTORE_MARGIN = 2 ** 16;
const FILE_VERSION = 2;

interface SavedMark {
  /** `spi/dst`, for a person reading the file. */
  readonly sa: string;
  readonly mark: number;
}

interface MarkFile {
  readonly version: 2;
  readonly marks: Record<string, SavedMark>;
}

interface V1File {
  readonly version: 1;
  readonly sas: Record<string, { readonly fingerprint: string; readonly seqHi: number; readonly seqLo: number }>;
}

/** Where an SA's counter is filed, for people: its SPI and destination (RFC 4301 §4.1 SA lookup). */
export function sequenceKey(sa: SaConfig): string {
  return `${sa.spi.toString(16).padStart(8, '0')}/${sa.dst}`;
}

/** Same keys and algorithms, same number space: continuing from the mark is required, not merely allowed. */
export function keyFingerprint(sa: SaConfig): string {
  // The hash of the JSON text [spi, dst, encryption, "encKey hex", integrity, "authKey hex"],
  // as files written before keys became Secrets hold it; the hex is fed as bytes, never a string.
  const h = createHash('sha256').update(`[${sa.spi},${JSON.stringify(sa.dst)},${JSON.stringify(sa.encryption)},"`);
  sa.encKey.updateHex(h);
  h.update(`",${JSON.stringify(sa.integrity)},"`);
  sa.authKey.updateHex(h);
  return h.update('"]').digest('hex');
}

/** The durable high-water marks. The module takes a file store; tests inject one they control. */
export interface MarkStore {
  /** The mark of these keys (every number below it may have been used), or null for keys never used. */
  mark(sa: SaConfig): number | null;
  /** Raises marks; returns only once they are durable, and throws when they may not be. */
  raise(marks: ReadonlyArray<{ readonly sa: SaConfig; readonly mark: number }>): void;
}

export class FileMarkStore implements MarkStore {
  private readonly path: string;
  private readonly marks = new Map<string, SavedMark>();

  constructor(dir: string) {
    this.path = join(dir, 'sequence.json');
    if (!existsSync(this.path)) return;
    let parsed: MarkFile | V1File;
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8')) as MarkFile | V1File;
    } catch (e) {
      // Starting from initialSeq could repeat numbers under unchanged keys: refuse instead.
      throw new Error(`${this.path} is unreadable (${(e as Error).message}): new keys for the outbound SAs are the safe way out; then remove the file`);
    }
    if (parsed.version === 1) {
      for (const [sa, e] of Object.entries(parsed.sas)) this.marks.set(e.fingerprint, { sa, mark: e.seqHi * TWO_32 + e.seqLo + V1_RESTORE_MARGIN + 1 });
    } else if (parsed.version === FILE_VERSION) {
      for (const [fingerprint, e] of Object.entries(parsed.marks)) this.marks.set(fingerprint, e);
    } else {
      throw new Error(`${this.path} has version ${String((parsed as { version: unknown }).version)}, expected ${FILE_VERSION}`);
    }
  }

  mark(sa: SaConfig): number | null {
    return this.marks.get(keyFingerprint(sa))?.mark ?? null;
  }

  /** Marks of keys not passed are kept: keys removed now and configured again later must not repeat. */
  raise(marks: ReadonlyArray<{ readonly sa: SaConfig; readonly mark: number }>): void {
    let changed = false;
    for (const { sa, mark } of marks) {
      const fingerprint = keyFingerprint(sa);
      if (mark <= (this.marks.get(fingerprint)?.mark ?? -1)) continue;
      this.marks.set(fingerprint, { sa: sequenceKey(sa), mark });
      changed = true;
    }
    if (!changed) return;
    const file: MarkFile = { version: FILE_VERSION, marks: Object.fromEntries(this.marks) };
    writeFileDurably(this.path, JSON.stringify(file), 0o600);
  }
}

interface Reservation {
  readonly sa: InstalledSa;
  /** The limit published to the lane: the first number it may not use. */
  limit: number;
  /** The last number used when the rate was last measured, and when (clock ms). */
  used: number;
  at: number;
  /** Numbers per second, measured between checks, decaying by half per check when traffic slows. */
  rate: number;
}

/**
 * The control plane's side of the reservation for the live outbound SAs: it starts each at its
 * mark, reserves ahead of the lane as the lane's rate requires, makes each reservation durable
 * through the MarkStore, and only then publishes the raised limit in the state block.
 */
export class SequenceReserver {
  private readonly reservations = new Map<InstalledSa, Reservation>();

  constructor(
    private readonly state: IpsecState,
    private readonly store: MarkStore,
  ) {}

  /**
   * A newly installed outbound SA, not yet published: its next number is its keys' mark
   * (never below initialSeq + 1; without ESN at most 2³², where the lane counts it spent),
   * and nothing is reserved yet. Returns the last number taken as used, or null for keys
   * with no mark.
   */
  admit(sa: InstalledSa, now: number): number | null {
    const c = sa.config;
    const mark = this.store.mark(c);
    let used = mark === null ? c.initialSeq : Math.max(c.initialSeq, mark - 1);
    if (!c.esn) used = Math.min(used, END_32 - 1);
    this.state.f[sa.slot * STATE_FIELDS + ST.seqOut] = used;
    this.state.setSeqLimit(sa.slot, used + 1);
    this.reservations.set(sa, { sa, limit: used + 1, used, at: now, rate: 0 });
    return mark === null ? null : used;
  }

  /** Forgets the SAs no longer installed. */
  retain(live: ReadonlySet<InstalledSa>): void {
    for (const sa of this.reservations.keys()) if (!live.has(sa)) this.reservations.delete(sa);
  }

  /**
   * Reserves for every SA with less than half a window left: measures its rate, makes the new
   * marks durable in one write, then raises the limits. A failed write throws and raises
   * nothing: the lanes then drop at their limits until a later call succeeds.
   */
  reserve(now: number): void {
    const due: Array<{ readonly r: Reservation; readonly mark: number }> = [];
    for (const r of this.reservations.values()) {
      const used = this.state.field(r.sa.slot, ST.seqOut);
      if (now > r.at) {
        r.rate = Math.max(((used - r.used) * 1000) / (now - r.at), r.rate / 2);
        r.used = used;
        r.at = now;
      }
      const end = r.sa.config.esn ? END_ESN : END_32;
      const window = Math.max(MIN_RESERVATION, Math.ceil((r.rate * RESERVE_AHEAD_MS) / 1000));
      if (r.limit >= end || r.limit - (used + 1) >= window / 2) continue;
      due.push({ r, mark: Math.min(used + 1 + window, end) });
    }
    if (due.length === 0) return;
    this.store.raise(due.map(({ r, mark }) => ({ sa: r.sa.config, mark })));
    for (const { r, mark } of due) {
      r.limit = mark;
      this.state.setSeqLimit(r.sa.slot, mark);
    }
  }
}
