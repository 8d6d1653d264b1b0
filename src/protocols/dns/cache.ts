/**
 * The forwarder's answer cache (issue 15), one entry per question:
 *
 * - Keyed by (qname lowercased, qtype, qclass): names compare case-insensitively in ASCII
 *   (RFC 4343), and presentation text has only ASCII (other bytes are \DDD escapes).
 * - Positive answers live for the smallest TTL of the answer section; negative answers
 *   (NXDOMAIN, and NOERROR without an answer: NODATA) for min(SOA TTL, SOA MINIMUM) of the
 *   SOA in the authority section (RFC 2308 §5). A negative answer without an SOA is not
 *   cached (§5: "SHOULD NOT"), nor is any other rcode, nor a truncated reply.
 * - Caps: every TTL is raised to minTtl and lowered to maxTtl (negative ones to
 *   negativeMaxTtl) as the entry is stored, so what clients see agrees with how long it
 *   is kept; at most `size` entries, the least recently used evicted first (a Map keeps
 *   insertion order: a hit moves the entry to the end).
 * - Served TTLs are the stored ones less the whole seconds since the entry was stored
 *   (RFC 1035 §7.3 / RFC 2181 §8: a cache counts TTLs down).
 * - Serve-stale (RFC 8767): an expired entry is kept for staleMaxAge after it expired, and
 *   is handed out (with TTL STALE_TTL, §4) only when the caller says the upstreams failed.
 * - Prefetch: a fresh entry that was asked for at least PREFETCH_MIN_HITS times and is in
 *   the last PREFETCH_FRACTION of its lifetime is reported as due, so the caller refreshes
 *   it before popular names expire (as Unbound's `prefetch`).
 *
 * The cache object outlives reloads: reconfigure() changes the caps in place and evicts
 * down to a smaller size, and nothing else is lost.
 */
import type { Clock } from '../../lib/clock.js';
import { DNS_RCODE, DNS_TYPE, type DnsMessage, type DnsRecord } from '../../wire/dns.js';

export interface CacheConfig {
  /** Most entries kept; 0 turns the cache off. */
  readonly size: number;
  /** Seconds. */
  readonly minTtl: number;
  readonly maxTtl: number;
  readonly negativeMaxTtl: number;
  readonly serveStale: boolean;
  /** Seconds an expired entry may still be served when the upstreams fail (RFC 8767 §5: 1 to 3 days). */
  readonly staleMaxAge: number;
  readonly prefetch: boolean;
}

export const CACHE_DEFAULTS: CacheConfig = {
  size: 10_000,
  minTtl: 0,
  maxTtl: 86_400,
  negativeMaxTtl: 3_600,
  serveStale: false,
  staleMaxAge: 86_400,
  prefetch: false,
};

/** RFC 8767 §4: the TTL of a stale answer. */
export const STALE_TTL = 30;
/** A name asked for this many times is popular enough to be refreshed before it expires. */
export const PREFETCH_MIN_HITS = 2;
/** ... when less than this share of its lifetime is left (Unbound: the last 10%). */
export const PREFETCH_FRACTION = 0.1;

export interface CacheKey {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

/** A reply's rcode and record sections, as stored and as served. */
export interface CachedReply {
  readonly rcode: number;
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
  readonly additionals: readonly DnsRecord[];
}

interface Entry extends CachedReply {
  readonly key: CacheKey;
  readonly negative: boolean;
  /** Clock ms when stored and when the entry's TTL runs out. */
  readonly storedAt: number;
  readonly expiresAt: number;
  /** The stored TTL in seconds. */
  readonly ttl: number;
  hits: number;
  /** A refresh was handed out for this entry already. */
  prefetching: boolean;
}

/** What the cache gives back: the message sections with their TTLs counted down. */
export interface CachedAnswer extends CachedReply {
  readonly stale: boolean;
  /** The caller should refresh this entry from upstream (prefetch). */
  readonly prefetch: boolean;
}

export interface CacheStats {
  hits: number;
  misses: number;
  inserts: number;
  evictions: number;
  expired: number;
  staleServed: number;
  prefetches: number;
  /** Replies not stored, by reason (`rcode`, `no-soa`, `truncated`, `disabled`). */
  notCached: Record<string, number>;
}

/** One entry as `show dns cache` lists it. */
export interface CacheListing {
  readonly name: string;
  readonly type: number;
  readonly class: number;
  readonly rcode: number;
  readonly negative: boolean;
  /** Seconds left; negative once expired (a stale entry). */
  readonly ttlLeft: number;
  readonly records: number;
  readonly hits: number;
}

export function cacheKeyText(k: CacheKey): string {
  return `${k.name.toLowerCase()}/${k.type}/${k.class}`;
}

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  readonly stats: CacheStats = { hits: 0, misses: 0, inserts: 0, evictions: 0, expired: 0, staleServed: 0, prefetches: 0, notCached: {} };

  constructor(
    private readonly clock: Clock,
    private config: CacheConfig,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  reconfigure(config: CacheConfig): void {
    this.config = config;
    this.trim();
  }

  clear(): number {
    const n = this.entries.size;
    this.entries.clear();
    return n;
  }

  /**
   * A fresh answer for `key`, or with `stale`, an expired one younger than staleMaxAge (only
   * when serveStale is on); null otherwise (a miss is counted only for fresh lookups, since a
   * stale lookup follows a miss already counted).
   */
  get(key: CacheKey, stale = false): CachedAnswer | null {
    const k = cacheKeyText(key);
    const e = this.entries.get(k);
    const now = this.clock.now();
    if (e === undefined) {
      if (!stale) this.stats.misses++;
      return null;
    }
    if (now < e.expiresAt) {
      if (stale) return null;
      this.touch(k, e);
      this.stats.hits++;
      e.hits++;
      const prefetch = this.config.prefetch && !e.prefetching && e.hits >= PREFETCH_MIN_HITS && e.expiresAt - now <= e.ttl * 1000 * PREFETCH_FRACTION;
      if (prefetch) {
        e.prefetching = true;
        this.stats.prefetches++;
      }
      const elapsed = Math.floor((now - e.storedAt) / 1000);
      return this.answer(e, (ttl) => Math.max(0, ttl - elapsed), false, prefetch);
    }
    if (!this.config.serveStale || now - e.expiresAt > this.config.staleMaxAge * 1000) {
      this.entries.delete(k);
      this.stats.expired++;
      if (!stale) this.stats.misses++;
      return null;
    }
    if (!stale) {
      this.stats.misses++;
      return null;
    }
    this.touch(k, e);
    this.stats.staleServed++;
    return this.answer(e, () => STALE_TTL, true, false);
  }

  /**
   * Stores `reply` (an upstream's answer to `key`) if it is cacheable; returns why not
   * otherwise. The caller keeps RFC 4074 workarounds out (they are not the upstream's answer).
   */
  put(key: CacheKey, reply: DnsMessage): string | null {
    const reason = this.store(key, reply);
    if (reason !== null) this.stats.notCached[reason] = (this.stats.notCached[reason] ?? 0) + 1;
    return reason;
  }

  /** The entry just stored for `key`, with its capped TTLs, without counting a hit or moving it. */
  stored(key: CacheKey): CachedReply | null {
    const e = this.entries.get(cacheKeyText(key));
    return e === undefined || e.storedAt !== this.clock.now() ? null : e;
  }

  private store(key: CacheKey, reply: DnsMessage): string | null {
    if (this.config.size === 0) return 'disabled';
    if (reply.tc) return 'truncated';
    if (reply.rcode !== DNS_RCODE.NOERROR && reply.rcode !== DNS_RCODE.NXDOMAIN) return 'rcode';
    const c = this.config;
    const negative = reply.rcode === DNS_RCODE.NXDOMAIN || reply.answers.length === 0;
    let ttl: number;
    let clamp: (t: number) => number;
    if (negative) {
      const soa = reply.authorities.find((r) => r.type === DNS_TYPE.SOA && r.rdata.kind === 'soa');
      if (soa === undefined || soa.rdata.kind !== 'soa') return 'no-soa';
      // RFC 2308 §5: the negative TTL is the SOA's MINIMUM bounded by the SOA record's own TTL.
      ttl = Math.min(Math.max(Math.min(soa.ttl, soa.rdata.minimum), c.minTtl), c.negativeMaxTtl);
      clamp = () => ttl;
    } else {
      clamp = (t) => Math.min(Math.max(t, c.minTtl), c.maxTtl);
      ttl = Math.min(...reply.answers.map((r) => clamp(r.ttl)));
    }
    if (ttl <= 0) return 'zero-ttl';
    const now = this.clock.now();
    const withTtl = (rs: readonly DnsRecord[]): DnsRecord[] => rs.map((r) => ({ ...r, ttl: clamp(r.ttl) }));
    const k = cacheKeyText(key);
    this.entries.delete(k);
    this.entries.set(k, {
      key: { name: key.name.toLowerCase(), type: key.type, class: key.class },
      rcode: reply.rcode,
      answers: withTtl(reply.answers),
      authorities: withTtl(reply.authorities),
      additionals: withTtl(reply.additionals),
      negative,
      storedAt: now,
      expiresAt: now + ttl * 1000,
      ttl,
      hits: 0,
      prefetching: false,
    });
    this.stats.inserts++;
    this.trim();
    return null;
  }

  /** Every entry, most recently used last. */
  list(): CacheListing[] {
    const now = this.clock.now();
    return [...this.entries.values()].map((e) => ({
      name: e.key.name,
      type: e.key.type,
      class: e.key.class,
      rcode: e.rcode,
      negative: e.negative,
      ttlLeft: Math.floor((e.expiresAt - now) / 1000),
      records: e.answers.length + e.authorities.length + e.additionals.length,
      hits: e.hits,
    }));
  }

  private touch(k: string, e: Entry): void {
    this.entries.delete(k);
    this.entries.set(k, e);
  }

  private trim(): void {
    while (this.entries.size > this.config.size) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.stats.evictions++;
    }
  }

  private answer(e: Entry, ttl: (t: number) => number, stale: boolean, prefetch: boolean): CachedAnswer {
    const map = (rs: readonly DnsRecord[]): DnsRecord[] => rs.map((r) => ({ ...r, ttl: ttl(r.ttl) }));
    return { rcode: e.rcode, answers: map(e.answers), authorities: map(e.authorities), additionals: map(e.additionals), stale, prefetch };
  }
}
