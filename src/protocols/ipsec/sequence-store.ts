/**
 * Outbound ESP sequence numbers that survive a restart (RFC 4303 §3.3.3, §2.2.1: the sender
 * must not let the counter cycle, and with manual keying the counter state must be kept
 * across a restart). A repeated number is worse than a drop by the peer's anti-replay: GCM
 * builds its nonce from the sequence number, so a repeat under the same key reuses a nonce.
 *
 * The file, `sequence.json` in the module's state directory, maps `spi/dst` to the last
 * number sent (high and low 32-bit words, as ESN splits them) and a fingerprint of the SA's
 * keys and algorithms, a SHA-256 so that the keys themselves never reach the disk. It is
 * written as a temporary file, fsynced, renamed over the old one (atomic on POSIX), and the
 * directory fsynced, so a crash leaves either the old or the new file, never a torn one.
 *
 * Only outbound SAs are kept. An inbound SA's replay window is not: it only protects the
 * receiver, and it is the peer's sender that must not repeat numbers (its own duty under
 * RFC 4303 §3.3.3), so a fresh window after a restart accepts nothing the peer would not
 * have sent anyway.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SaConfig } from '../../config/sections/ipsec.js';

/**
 * Added to the saved number on restore: it covers what the lanes may have sent between the
 * last save (at most one lifetime check, one second, earlier) and the crash, i.e. up to
 * 65 536 packets per second on one SA. The restored value is saved at once, so repeated
 * crashes each skip one margin and never land below a number already used.
 */
export const RESTORE_MARGIN = 2 ** 16;

const TWO_32 = 2 ** 32;
const SEQ_MAX_32 = TWO_32 - 1;
const FILE_VERSION = 1;

interface SavedSequence {
  readonly fingerprint: string;
  readonly seqHi: number;
  readonly seqLo: number;
}

interface SequenceFile {
  readonly version: number;
  readonly sas: Record<string, SavedSequence>;
}

/** Where an SA's counter is filed: its SPI and destination (RFC 4301 §4.1 SA lookup). */
export function sequenceKey(sa: SaConfig): string {
  return `${sa.spi.toString(16).padStart(8, '0')}/${sa.dst}`;
}

/** Same keys and algorithms, same number space: restoring is required, not merely allowed. */
export function keyFingerprint(sa: SaConfig): string {
  // The hash of the JSON text [spi, dst, encryption, "encKey hex", integrity, "authKey hex"],
  // as files written before keys became Secrets hold it; the hex is fed as bytes, never a string.
  const h = createHash('sha256').update(`[${sa.spi},${JSON.stringify(sa.dst)},${JSON.stringify(sa.encryption)},"`);
  sa.encKey.updateHex(h);
  h.update(`",${JSON.stringify(sa.integrity)},"`);
  sa.authKey.updateHex(h);
  return h.update('"]').digest('hex');
}

export class SequenceStore {
  private readonly path: string;
  private readonly saved = new Map<string, SavedSequence>();

  constructor(dir: string) {
    this.path = join(dir, 'sequence.json');
    if (!existsSync(this.path)) return;
    let parsed: SequenceFile;
    try {
      parsed = JSON.parse(readFileSync(this.path, 'utf8')) as SequenceFile;
    } catch (e) {
      // Starting from initialSeq could repeat numbers under unchanged keys: refuse instead.
      throw new Error(`${this.path} is unreadable (${(e as Error).message}): new keys for the outbound SAs are the safe way out; then remove the file`);
    }
    if (parsed.version !== FILE_VERSION) throw new Error(`${this.path} has version ${String(parsed.version)}, expected ${FILE_VERSION}`);
    for (const [key, entry] of Object.entries(parsed.sas)) this.saved.set(key, entry);
  }

  /**
   * The number to continue from for `sa`: the saved one plus RESTORE_MARGIN when its keys are
   * unchanged (never below the configured initialSeq), or null when nothing applies. Without
   * ESN it stops at 2³²−1, so the lane counts the SA as spent rather than wrapping.
   */
  restore(sa: SaConfig): number | null {
    const entry = this.saved.get(sequenceKey(sa));
    if (entry === undefined || entry.fingerprint !== keyFingerprint(sa)) return null;
    const next = Math.max(sa.initialSeq, entry.seqHi * TWO_32 + entry.seqLo + RESTORE_MARGIN);
    return sa.esn ? next : Math.min(next, SEQ_MAX_32);
  }

  /**
   * Records the current numbers and writes the file if any changed. Entries of SAs not passed
   * are kept: a flushed SA re-added later with the same keys must still not repeat.
   */
  record(sas: ReadonlyArray<{ readonly config: SaConfig; readonly seq: number }>): void {
    let changed = false;
    for (const { config, seq } of sas) {
      const key = sequenceKey(config);
      const entry = { fingerprint: keyFingerprint(config), seqHi: Math.floor(seq / TWO_32), seqLo: seq % TWO_32 };
      const old = this.saved.get(key);
      if (old !== undefined && old.fingerprint === entry.fingerprint && old.seqHi === entry.seqHi && old.seqLo === entry.seqLo) continue;
      this.saved.set(key, entry);
      changed = true;
    }
    if (changed) this.write();
  }

  private write(): void {
    const file: SequenceFile = { version: FILE_VERSION, sas: Object.fromEntries(this.saved) };
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    writeSync(fd, JSON.stringify(file));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    const dirFd = openSync(join(this.path, '..'), 'r');
    fsyncSync(dirFd);
    closeSync(dirFd);
  }
}
