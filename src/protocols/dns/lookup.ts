/**
 * getaddrinfo and getanswer over the stub resolver (the book's ch. 3):
 *
 * - answerFor: the records of one type for a name, following the CNAME chain inside the
 *   answer section (at most MAX_CNAME_CHAIN links, loops refused), owner names compared
 *   case-insensitively; records for other owners are not taken.
 * - lookup: for family 'any' asks AAAA and A at once, for 'ipv6' or 'ipv4' only one;
 *   addresses come back in RFC 6724 order (rfc6724.ts says which rules).
 * - RFC 4074: when the A query shows that the name exists (NOERROR) but the AAAA query
 *   got NXDOMAIN, an error rcode from every server, no reply, or an answer with A records
 *   and no AAAA (§4.1–4.4), the server is misbehaving on AAAA: the name is not reported
 *   as non-existent, the A addresses are returned, the result says `rfc4074`, and the
 *   server that gave the AAAA result (else the one that answered A) is counted.
 */
import { formatIpv6 } from '../../lib/addr.js';
import { dnsNamesEqual, DNS_RCODE, DNS_TYPE, type DnsMessage, type DnsRecord } from '../../wire/dns.js';
import type { QueryOutcome, Resolver } from './resolver.js';
import { sortDestinations, v4Mapped } from './rfc6724.js';

export const MAX_CNAME_CHAIN = 16;

export interface Answer {
  /** The name the chain ended at (the query name when there was no CNAME). */
  readonly canonicalName: string;
  readonly records: readonly DnsRecord[];
  readonly cnames: readonly string[];
}

/** getanswer: the `type` records for `name` in `m`'s answer section, through CNAMEs; null on a CNAME loop or an over-long chain. */
export function answerFor(m: DnsMessage, name: string, type: number): Answer | null {
  let current = name;
  const cnames: string[] = [];
  for (let hop = 0; hop <= MAX_CNAME_CHAIN; hop++) {
    const owned = m.answers.filter((r) => dnsNamesEqual(r.name, current));
    const records = owned.filter((r) => r.type === type);
    if (records.length > 0 || type === DNS_TYPE.CNAME) return { canonicalName: current, records, cnames };
    const cname = owned.find((r) => r.rdata.kind === 'cname');
    if (cname === undefined || cname.rdata.kind !== 'cname') return { canonicalName: current, records: [], cnames };
    const next = cname.rdata.name;
    if (dnsNamesEqual(next, name) || cnames.some((c) => dnsNamesEqual(c, next))) return null;
    cnames.push(next);
    current = next;
  }
  return null;
}

export type Family = 'any' | 'ipv6' | 'ipv4';

export interface AddressInfo {
  readonly family: 6 | 4;
  readonly address: string;
  readonly ttl: number;
}

export type LookupResult =
  | {
      readonly ok: true;
      readonly name: string;
      readonly canonicalName: string;
      readonly addresses: readonly AddressInfo[];
      /** RFC 4074 misbehaviour on AAAA was seen and worked around. */
      readonly rfc4074: string | null;
    }
  | { readonly ok: false; readonly reason: 'NXDOMAIN' | 'NODATA' | 'failed'; readonly detail: string };

interface Extracted {
  readonly canonicalName: string;
  readonly addresses: AddressInfo[];
  readonly bytes: Uint8Array[];
}

function extract(o: QueryOutcome, name: string, type: number): Extracted | null {
  if (!o.ok || o.message.rcode !== DNS_RCODE.NOERROR) return null;
  const a = answerFor(o.message, name, type);
  if (a === null) return null;
  const addresses: AddressInfo[] = [];
  const bytes: Uint8Array[] = [];
  for (const r of a.records) {
    if (r.rdata.kind === 'aaaa') {
      addresses.push({ family: 6, address: formatIpv6(r.rdata.address), ttl: r.ttl });
      bytes.push(r.rdata.address);
    } else if (r.rdata.kind === 'a') {
      addresses.push({ family: 4, address: r.rdata.address.join('.'), ttl: r.ttl });
      bytes.push(v4Mapped(r.rdata.address));
    }
  }
  return { canonicalName: a.canonicalName, addresses, bytes };
}

/** Why the AAAA outcome is RFC 4074 misbehaviour when A shows the name exists, or null if it is not. */
function aaaaMisbehaviour(o: QueryOutcome, name: string): string | null {
  if (!o.ok) return o.reason === 'timeout' ? 'AAAA query ignored (§4.1)' : o.reason === 'error-rcode' ? 'error rcode to AAAA (§4.3)' : null;
  if (o.message.rcode === DNS_RCODE.NXDOMAIN) return 'NXDOMAIN to AAAA (§4.2)';
  const a = answerFor(o.message, name, DNS_TYPE.A);
  const aaaa = answerFor(o.message, name, DNS_TYPE.AAAA);
  if (a !== null && aaaa !== null && a.records.length > 0 && aaaa.records.length === 0) return 'A records in the answer to AAAA (§4.4)';
  return null;
}

export async function lookup(resolver: Resolver, name: string, family: Family = 'any'): Promise<LookupResult> {
  const [o6, o4] = await Promise.all([
    family === 'ipv4' ? null : resolver.query(name, DNS_TYPE.AAAA),
    family === 'ipv6' ? null : resolver.query(name, DNS_TYPE.A),
  ]);
  const x6 = o6 === null ? null : extract(o6, name, DNS_TYPE.AAAA);
  const x4 = o4 === null ? null : extract(o4, name, DNS_TYPE.A);
  let rfc4074: string | null = null;
  if (o6 !== null && o4 !== null && x4 !== null && o4.ok) {
    rfc4074 = aaaaMisbehaviour(o6, name);
    if (rfc4074 !== null) resolver.statsFor(o6.server ?? o4.server).rfc4074++;
  }
  const found = [x6, x4].filter((x): x is Extracted => x !== null);
  const pairs = found.flatMap((x) => x.addresses.map((a, i) => ({ a, key: x.bytes[i]! })));
  if (pairs.length > 0) {
    return {
      ok: true,
      name,
      canonicalName: found[0]!.canonicalName,
      addresses: sortDestinations(pairs, (p) => p.key).map((p) => p.a),
      rfc4074,
    };
  }
  const outcomes = [o6, o4].filter((o): o is QueryOutcome => o !== null);
  // Non-existence only when every answer says so (and never on RFC 4074 evidence alone).
  if (outcomes.every((o) => o.ok && o.message.rcode === DNS_RCODE.NXDOMAIN)) return { ok: false, reason: 'NXDOMAIN', detail: `${name} does not exist` };
  if (found.length > 0 || outcomes.some((o) => o.ok && o.message.rcode === DNS_RCODE.NOERROR)) {
    return { ok: false, reason: 'NODATA', detail: `${name} has no ${family === 'ipv4' ? 'A' : family === 'ipv6' ? 'AAAA' : 'AAAA or A'} records` };
  }
  return { ok: false, reason: 'failed', detail: outcomes.map((o) => (o.ok ? `rcode ${o.message.rcode}` : o.detail)).join('; ') };
}
