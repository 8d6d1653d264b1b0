/**
 * Durable DHCPv6 bindings (DESIGN.md, "State that must survive restarts"): an append-only
 * journal of JSON lines, made durable by fdatasync (sync()) before the Reply that depends on
 * a write is sent, so a `kill -9` never forgets a lease a client was told about. Writes and
 * syncs are separate so that one fdatasync covers every lease decided in one turn of the
 * event loop (group commit): at ≈0.2–0.3 ms an fdatasync, one per lease capped the server
 * at a few thousand leases/s. When the journal
 * grows past a bound it is compacted: the live set is written to a temporary file, fsynced,
 * renamed over the snapshot, and the journal is truncated (rename is atomic on POSIX).
 *
 * A torn last line (a crash mid-append) is ignored on load: its Reply was never sent.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync, ftruncateSync, fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../../lib/durable-file.js';

export interface StoredLease {
  readonly kind: 'na' | 'pd';
  /** Client DUID, colon hex. */
  readonly duid: string;
  readonly iaid: number;
  /** Address, or prefix without its length. */
  readonly address: string;
  /** 128 for addresses. */
  readonly prefixLen: number;
  readonly preferredLifetime: number;
  readonly validLifetime: number;
  /** Wall-clock milliseconds since the epoch: monotonic clocks restart with the process. */
  readonly expiresAt: number;
  /** Declined addresses (§18.3.8) are kept out of the pool until they expire. */
  readonly declined?: boolean;
  /** The link the lease is for: a served interface's name or a subnet's prefix (absent in leases from before subnets). */
  readonly link?: string;
  /** For a client behind relays: the address of the relay agent the server heard it through. */
  readonly relay?: string;
  /** For delegated prefixes: the requesting router's address and the port it is on, the route's next hop. */
  readonly via?: { readonly port: number; readonly address: string };
}

type JournalEntry = { readonly op: 'put'; readonly lease: StoredLease } | { readonly op: 'del'; readonly key: string };

export function leaseKey(l: Pick<StoredLease, 'kind' | 'address' | 'prefixLen'>): string {
  return `${l.kind}/${l.address}/${l.prefixLen}`;
}

const COMPACT_AFTER = 4096;

export class LeaseStore {
  private readonly snapshotPath: string;
  private readonly journalPath: string;
  private readonly leases = new Map<string, StoredLease>();
  private journalFd = -1;
  private journalLines = 0;
  /** Appended since the last fdatasync: see sync(). */
  private unsynced = false;
  /** fdatasync calls made by sync(), for the metrics (leases per sync shows the grouping). */
  syncs = 0;
  /**
   * Bumped by every change to a delegated prefix's binding: the routes toward requesting
   * routers follow those alone, and address leases change far more often.
   */
  prefixGeneration = 0;

  constructor(dir: string, fileName = 'leases') {
    this.snapshotPath = join(dir, `${fileName}.json`);
    this.journalPath = join(dir, `${fileName}.journal`);
  }

  /** Loads the snapshot and replays the journal. */
  open(): void {
    if (existsSync(this.snapshotPath)) {
      const parsed = JSON.parse(readFileSync(this.snapshotPath, 'utf8')) as StoredLease[];
      for (const l of parsed) this.leases.set(leaseKey(l), l);
    }
    if (existsSync(this.journalPath)) {
      for (const line of readFileSync(this.journalPath, 'utf8').split('\n')) {
        if (line === '') continue;
        let entry: JournalEntry;
        try {
          entry = JSON.parse(line) as JournalEntry;
        } catch {
          break;
        }
        if (entry.op === 'put') this.leases.set(leaseKey(entry.lease), entry.lease);
        else this.leases.delete(entry.key);
        this.journalLines++;
      }
    }
    this.journalFd = openSync(this.journalPath, 'a');
    if (this.journalLines > 0) this.compact();
  }

  all(): IterableIterator<StoredLease> {
    return this.leases.values();
  }

  get(key: string): StoredLease | undefined {
    return this.leases.get(key);
  }

  get size(): number {
    return this.leases.size;
  }

  /** True when a write is not yet durable: no Reply that depends on it may leave before sync(). */
  get needsSync(): boolean {
    return this.unsynced;
  }

  /** Makes every write so far durable with one fdatasync, however many there were. */
  sync(): void {
    if (!this.unsynced) return;
    fdatasyncSync(this.journalFd);
    this.syncs++;
    this.unsynced = false;
  }

  put(lease: StoredLease): void {
    this.leases.set(leaseKey(lease), lease);
    if (lease.kind === 'pd') this.prefixGeneration++;
    this.append({ op: 'put', lease });
  }

  delete(key: string): void {
    const lease = this.leases.get(key);
    if (lease === undefined) return;
    this.leases.delete(key);
    if (lease.kind === 'pd') this.prefixGeneration++;
    this.append({ op: 'del', key });
  }

  close(): void {
    if (this.journalFd < 0) return;
    this.compact();
    closeSync(this.journalFd);
    this.journalFd = -1;
  }

  private append(entry: JournalEntry): void {
    if (this.journalFd < 0) throw new Error('lease store is not open');
    writeSync(this.journalFd, `${JSON.stringify(entry)}\n`);
    this.unsynced = true;
    if (++this.journalLines >= COMPACT_AFTER) this.compact();
  }

  /** Snapshot via temporary file + fsync + rename, then an empty journal: durable, like sync(). */
  private compact(): void {
    writeFileDurably(this.snapshotPath, JSON.stringify([...this.leases.values()]));
    ftruncateSync(this.journalFd, 0);
    fsyncSync(this.journalFd);
    this.journalLines = 0;
    this.unsynced = false;
  }
}
