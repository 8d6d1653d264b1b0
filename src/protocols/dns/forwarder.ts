/**
 * The caching DNS forwarder on the router (issue 15), as dnsmasq, Unbound's forward zones
 * and systemd-resolved: LAN hosts ask the router, the router answers from local data, from
 * its cache, or by asking its upstreams through the stub resolver (resolver.ts).
 *
 * One query, in order:
 * 1. Fewer than 12 bytes, or QR set (a response: answering it could loop two servers): dropped,
 *    counted by reason.
 * 2. A client outside the allowed prefixes gets REFUSED (so the router is not an open
 *    resolver, RFC 5358 §4). The default list is the prefixes of the router's own addresses.
 * 3. Undecodable (src/wire/dns.ts's guards: compression loops, labels over 63, counts larger
 *    than the message, a bad OPT): FORMERR with the query's ID and no question (RFC 1035
 *    §4.1.1), counted by reason. More or fewer than one question: FORMERR. An opcode other
 *    than QUERY, or a zone transfer (AXFR/IXFR): NOTIMP. An EDNS version above 0: BADVERS
 *    (RFC 6891 §6.1.3). A class other than IN: REFUSED.
 * 4. Local data (local.ts): answered authoritatively.
 * 5. The cache (cache.ts): a fresh entry is answered with its TTLs counted down; a popular
 *    entry near its end is refreshed in the background (prefetch).
 * 6. Otherwise the upstreams, through the resolver (RD set; its retries, TCP fallback and
 *    EDNS fallback apply). Identical questions in flight share one upstream exchange.
 *    The reply's answer, authority and additional sections are copied into a reply with the
 *    client's ID and question (RA=1, AA=0) and stored in the cache. When every upstream
 *    failed, a stale entry is served if serve-stale allows it (RFC 8767), else SERVFAIL.
 * 7. RFC 4074 §4.2: an upstream's NXDOMAIN to AAAA while the name has A records is that
 *    upstream misbehaving, not non-existence: the client gets NOERROR without records
 *    (NODATA), nothing is cached, and the upstream is counted (`rfc4074`).
 *
 * Toward the client over UDP the reply must fit the client's size: its EDNS UDP size, at
 * least 512 and at most MAX_UDP_REPLY, or 512 without OPT (RFC 1035 §4.2.1, RFC 6891 §6.2.5).
 * A reply that does not fit goes out with TC=1 and only the question, so the client asks
 * again over TCP (RFC 7766 §5), where there is no limit but the 16-bit length.
 */
import { prefixContains, type Prefix } from '../../lib/addr.js';
import type { Clock } from '../../lib/clock.js';
import {
  decodeDns,
  DNS_CLASS,
  DNS_HEADER_LEN,
  DNS_OPCODE,
  DNS_RCODE,
  DNS_TYPE,
  dnsRcodeName,
  dnsTypeName,
  encodeDnsToBytes,
  type DnsMessage,
  type DnsQuestion,
  type DnsRecord,
  type Edns,
} from '../../wire/dns.js';
import { cacheKeyText, DnsCache, type CachedReply, type CacheKey } from './cache.js';
import { LocalData } from './local.js';
import type { QueryOutcome } from './resolver.js';
import type { DnsServer } from './transport.js';

/**
 * The largest UDP reply the forwarder sends, whatever the client offers: one IPv6 minimum
 * MTU (1280) less the IPv6 and UDP headers, so replies are never fragmented (the DNS Flag
 * Day 2020 value; the resolver advertises the same upstream).
 */
export const MAX_UDP_REPLY = 1232;
/** RFC 1035 §4.2.1: the UDP limit without EDNS. */
export const CLASSIC_UDP_LIMIT = 512;

const AXFR = 252;
const IXFR = 251;

/** What the forwarder asks upstream with: the module's resolver with the merged server list. */
export interface Upstream {
  query(name: string, type: number): Promise<QueryOutcome>;
  /** Counts RFC 4074 misbehaviour against the server that showed it. */
  countRfc4074(server: DnsServer): void;
}

export interface ForwarderDeps {
  readonly clock: Clock;
  readonly upstream: Upstream;
  readonly cache: DnsCache;
  /** The prefixes of the router's own addresses: the allow list when none is configured. */
  readonly ownPrefixes: () => readonly Prefix[];
  /** The decision log (debug level): what each upstream exchange came to. */
  readonly debug?: (obj: object, msg: string) => void;
}

export interface ForwarderSettings {
  /** Clients allowed; null: the router's own prefixes. */
  readonly allow: readonly Prefix[] | null;
  readonly local: LocalData;
}

export interface ForwarderStats {
  /** Queries that decoded, by type mnemonic. */
  queries: Record<string, number>;
  /** Replies sent, by rcode mnemonic. */
  replies: Record<string, number>;
  /** Queries dropped without a reply, by reason (`short`, `response`). */
  dropped: Record<string, number>;
  /** Queries answered FORMERR (or BADVERS), by reason. */
  malformed: Record<string, number>;
  refused: number;
  truncated: number;
  local: number;
  cached: number;
  stale: number;
  upstreamQueries: number;
  upstreamFailures: number;
  deduplicated: number;
  prefetches: number;
  rfc4074: number;
  /** Sum of upstream exchange times (ms) and how many there were. */
  upstreamMs: number;
  upstreamAnswers: number;
}

/** An upstream result as the cache and the replies use it. */
type Fetched = (CachedReply & { readonly ok: true }) | { readonly ok: false; readonly reason: string };

interface Sections {
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
  readonly additionals: readonly DnsRecord[];
}

const EMPTY: Sections = { answers: [], authorities: [], additionals: [] };

export function newForwarderStats(): ForwarderStats {
  return {
    queries: {},
    replies: {},
    dropped: {},
    malformed: {},
    refused: 0,
    truncated: 0,
    local: 0,
    cached: 0,
    stale: 0,
    upstreamQueries: 0,
    upstreamFailures: 0,
    deduplicated: 0,
    prefetches: 0,
    rfc4074: 0,
    upstreamMs: 0,
    upstreamAnswers: 0,
  };
}

function bump(m: Record<string, number>, key: string): void {
  m[key] = (m[key] ?? 0) + 1;
}

/** Which of the codec's guards refused a query, as a short counter label. */
export function malformedReason(decodeReason: string): string {
  if (/counts/.test(decodeReason)) return 'counts';
  if (/OPT/.test(decodeReason)) return 'opt';
  if (/pointer|label|name/.test(decodeReason)) return 'name';
  return 'record';
}

export class Forwarder {
  readonly stats = newForwarderStats();
  private readonly inflight = new Map<string, Promise<Fetched>>();

  constructor(
    private readonly deps: ForwarderDeps,
    private settings: ForwarderSettings,
  ) {}

  reconfigure(settings: ForwarderSettings): void {
    this.settings = settings;
  }

  get localData(): LocalData {
    return this.settings.local;
  }

  allowed(client: Uint8Array): boolean {
    const allow = this.settings.allow ?? this.deps.ownPrefixes();
    return allow.some((p) => prefixContains(p, client));
  }

  /** Answers one query from `client`; null means no reply at all. Never throws on bytes. */
  async handle(bytes: Uint8Array, client: Uint8Array, via: 'udp' | 'tcp'): Promise<Uint8Array | null> {
    if (bytes.length < DNS_HEADER_LEN) return this.drop('short');
    if ((bytes[2]! & 0x80) !== 0) return this.drop('response');
    const d = decodeDns(bytes);
    if (!this.allowed(client)) {
      this.stats.refused++;
      return this.headerOnly(bytes, DNS_RCODE.REFUSED, d.ok && d.value.questions.length === 1 ? d.value.questions : []);
    }
    if (!d.ok) {
      bump(this.stats.malformed, malformedReason(d.reason));
      return this.headerOnly(bytes, DNS_RCODE.FORMERR, []);
    }
    const q = d.value;
    if (q.questions.length !== 1) {
      bump(this.stats.malformed, 'question-count');
      return this.headerOnly(bytes, DNS_RCODE.FORMERR, []);
    }
    const question = q.questions[0]!;
    bump(this.stats.queries, dnsTypeName(question.type));
    if (q.edns !== null && q.edns.version > 0) {
      bump(this.stats.malformed, 'edns-version');
      // BADVERS is 16: the upper bits (1) go in the OPT record, the low 4 bits (0) in the header.
      return this.send(q, DNS_RCODE.NOERROR, EMPTY, false, via, 1);
    }
    if (q.opcode !== DNS_OPCODE.QUERY || question.type === AXFR || question.type === IXFR) return this.send(q, DNS_RCODE.NOTIMP, EMPTY, false, via);
    if (question.class !== DNS_CLASS.IN) return this.send(q, DNS_RCODE.REFUSED, EMPTY, false, via);

    const local = this.settings.local.answer(question.name, question.type);
    if (local !== null) {
      this.stats.local++;
      return this.send(q, local.rcode, { answers: local.answers, authorities: local.authorities, additionals: [] }, true, via);
    }
    const key: CacheKey = { name: question.name, type: question.type, class: question.class };
    const hit = this.deps.cache.get(key);
    if (hit !== null) {
      this.stats.cached++;
      if (hit.prefetch) {
        this.stats.prefetches++;
        void this.fetch(key);
      }
      return this.send(q, hit.rcode, hit, false, via);
    }
    const f = await this.fetch(key);
    if (f.ok) return this.send(q, f.rcode, f, false, via);
    const stale = this.deps.cache.get(key, true);
    if (stale !== null) {
      this.stats.stale++;
      return this.send(q, stale.rcode, stale, false, via);
    }
    return this.send(q, DNS_RCODE.SERVFAIL, EMPTY, false, via);
  }

  /** Asks upstream for `key`, once however many clients wait for it. */
  private fetch(key: CacheKey): Promise<Fetched> {
    const k = cacheKeyText(key);
    const pending = this.inflight.get(k);
    if (pending !== undefined) {
      this.stats.deduplicated++;
      return pending;
    }
    const p = this.fetchNow(key).finally(() => this.inflight.delete(k));
    this.inflight.set(k, p);
    return p;
  }

  private async fetchNow(key: CacheKey): Promise<Fetched> {
    this.stats.upstreamQueries++;
    const started = this.deps.clock.now();
    let o: QueryOutcome;
    try {
      o = await this.deps.upstream.query(key.name, key.type);
    } catch (e) {
      o = { ok: false, reason: 'timeout', detail: e instanceof Error ? e.message : String(e) };
    }
    if (!o.ok) {
      this.stats.upstreamFailures++;
      this.deps.debug?.({ name: key.name, type: dnsTypeName(key.type), reason: o.reason, detail: o.detail }, 'DNS forwarder: upstream failed');
      return { ok: false, reason: o.detail };
    }
    this.stats.upstreamMs += this.deps.clock.now() - started;
    this.stats.upstreamAnswers++;
    const m = o.message;
    if (key.type === DNS_TYPE.AAAA && m.rcode === DNS_RCODE.NXDOMAIN && (await this.hasA(key.name))) {
      this.stats.rfc4074++;
      this.deps.upstream.countRfc4074(o.server);
      this.deps.debug?.({ name: key.name, server: o.server.address }, 'DNS forwarder: NXDOMAIN to AAAA while A exists (RFC 4074 §4.2): answered NODATA, not cached');
      return { ok: true, rcode: DNS_RCODE.NOERROR, ...EMPTY };
    }
    const notCached = this.deps.cache.put(key, m);
    this.deps.debug?.({ name: key.name, type: dnsTypeName(key.type), rcode: dnsRcodeName(m.rcode), server: o.server.address, transport: o.transport, cached: notCached ?? 'yes' }, 'DNS forwarder: upstream answer');
    // The first client sees the TTLs the cache keeps (capped), as later ones do.
    const s = (notCached === null ? this.deps.cache.stored(key) : null) ?? m;
    return { ok: true, rcode: m.rcode, answers: s.answers, authorities: s.authorities, additionals: s.additionals };
  }

  /** Whether `name` has A records (from the cache or upstream): RFC 4074's evidence that it exists. */
  private async hasA(name: string): Promise<boolean> {
    const key: CacheKey = { name, type: DNS_TYPE.A, class: DNS_CLASS.IN };
    const f = this.deps.cache.get(key) ?? (await this.fetch(key));
    return 'rcode' in f && f.rcode === DNS_RCODE.NOERROR && f.answers.some((r) => r.type === DNS_TYPE.A);
  }

  private drop(reason: string): null {
    bump(this.stats.dropped, reason);
    return null;
  }

  /** A reply without records to a query that may not decode: the ID, opcode and RD copied from its header. */
  private headerOnly(query: Uint8Array, rcode: number, questions: readonly DnsQuestion[]): Uint8Array {
    bump(this.stats.replies, dnsRcodeName(rcode));
    return encodeDnsToBytes({
      id: (query[0]! << 8) | query[1]!,
      qr: true,
      opcode: (query[2]! >>> 3) & 0xf,
      aa: false,
      tc: false,
      rd: (query[2]! & 1) !== 0,
      ra: true,
      z: false,
      ad: false,
      cd: false,
      rcode,
      questions,
      ...EMPTY,
      edns: null,
    });
  }

  private send(q: DnsMessage, rcode: number, s: Sections, aa: boolean, via: 'udp' | 'tcp', extendedRcode = 0): Uint8Array {
    const edns: Edns | null = q.edns === null ? null : { udpSize: MAX_UDP_REPLY, extendedRcode, version: 0, dnssecOk: false, z: 0, options: [] };
    const reply: DnsMessage = {
      id: q.id,
      qr: true,
      opcode: q.opcode,
      aa,
      tc: false,
      rd: q.rd,
      ra: true,
      z: false,
      ad: false,
      cd: q.cd,
      rcode,
      questions: q.questions,
      answers: s.answers,
      authorities: s.authorities,
      additionals: s.additionals,
      edns,
    };
    bump(this.stats.replies, dnsRcodeName((extendedRcode << 4) | rcode));
    const bytes = encodeDnsToBytes(reply);
    if (via === 'tcp') return bytes;
    const limit = q.edns === null ? CLASSIC_UDP_LIMIT : Math.min(MAX_UDP_REPLY, Math.max(CLASSIC_UDP_LIMIT, q.edns.udpSize));
    if (bytes.length <= limit) return bytes;
    // RFC 2181 §9: not everything fits, so TC=1 and nothing but the question: the client
    // repeats the query over TCP.
    this.stats.truncated++;
    return encodeDnsToBytes({ ...reply, tc: true, ...EMPTY });
  }
}
