/**
 * The forwarder's local data: static records from config (`dns.forwarder.records`), answered
 * authoritatively (AA=1) without asking any upstream, as dnsmasq's `host-record` and
 * Unbound's `local-data`.
 *
 * - A name that has records answers them, or NODATA when none is of the asked type.
 * - Under `localDomain` (Unbound's `local-zone: … static`), a name without records is
 *   NXDOMAIN, and negative answers carry the domain's SOA so that clients cache them
 *   (RFC 2308 §3); the SOA's MINIMUM and TTL are LOCAL_NEGATIVE_TTL. Names outside it that
 *   have no records are not local: they go to the cache and the upstreams.
 * - Owner names compare case-insensitively (RFC 4343); answers carry the question's name
 *   as asked.
 */
import { parseIpv6 } from '../../lib/addr.js';
import { DNS_CLASS, DNS_RCODE, DNS_TYPE, ip6ArpaName, parseDnsType, type DnsRdata, type DnsRecord } from '../../wire/dns.js';

/** One record as the config section checked it. */
export interface LocalRecordConfig {
  readonly name: string;
  readonly type: 'AAAA' | 'A' | 'PTR' | 'TXT';
  readonly data: string;
  readonly ttl: number;
}

export const LOCAL_NEGATIVE_TTL = 60;

export interface LocalAnswer {
  readonly rcode: number;
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
}

/** A PTR record's owner may be written as the address it maps: its ip6.arpa name (RFC 3596 §2.5). */
export function localOwnerName(r: Pick<LocalRecordConfig, 'name' | 'type'>): string {
  const addr = r.type === 'PTR' && r.name.includes(':') ? parseIpv6(r.name) : null;
  return (addr === null ? r.name : ip6ArpaName(addr)).toLowerCase();
}

/** The RDATA of a config record; the section validated `data` for its type. */
export function localRdata(r: Pick<LocalRecordConfig, 'type' | 'data'>): DnsRdata | string {
  switch (r.type) {
    case 'AAAA': {
      const a = parseIpv6(r.data);
      return a === null ? `${JSON.stringify(r.data)} is not an IPv6 address` : { kind: 'aaaa', address: a };
    }
    case 'A': {
      const parts = r.data.split('.');
      const ok = parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
      return ok ? { kind: 'a', address: Uint8Array.from(parts.map(Number)) } : `${JSON.stringify(r.data)} is not an IPv4 address`;
    }
    case 'PTR':
      return { kind: 'ptr', name: r.data };
    case 'TXT': {
      const bytes = Buffer.from(r.data, 'latin1');
      return bytes.length <= 255 ? { kind: 'txt', strings: [Uint8Array.from(bytes)] } : 'TXT data longer than 255 bytes';
    }
  }
}

function under(name: string, domain: string): boolean {
  return name === domain || name.endsWith(`.${domain}`);
}

export class LocalData {
  private readonly byName = new Map<string, DnsRecord[]>();
  private readonly soa: DnsRecord | null;

  constructor(
    records: readonly LocalRecordConfig[],
    private readonly domain: string | null,
  ) {
    for (const r of records) {
      const rdata = localRdata(r);
      if (typeof rdata === 'string') continue;
      const name = localOwnerName(r);
      const list = this.byName.get(name) ?? [];
      list.push({ name, type: parseDnsType(r.type)!, class: DNS_CLASS.IN, ttl: r.ttl, rdata });
      this.byName.set(name, list);
    }
    this.soa =
      domain === null
        ? null
        : {
            name: domain,
            type: DNS_TYPE.SOA,
            class: DNS_CLASS.IN,
            ttl: LOCAL_NEGATIVE_TTL,
            rdata: { kind: 'soa', mname: domain, rname: `hostmaster.${domain}`, serial: 1, refresh: 3600, retry: 600, expire: 86_400, minimum: LOCAL_NEGATIVE_TTL },
          };
  }

  get size(): number {
    let n = 0;
    for (const l of this.byName.values()) n += l.length;
    return n;
  }

  /** The authoritative answer to (qname, qtype), or null when the name is not local data. */
  answer(qname: string, qtype: number): LocalAnswer | null {
    const name = qname.toLowerCase();
    const records = this.byName.get(name);
    const inDomain = this.domain !== null && under(name, this.domain);
    const soaAuthority = inDomain ? [this.soa!] : [];
    if (records === undefined) {
      if (!inDomain) return null;
      if (name === this.domain && (qtype === DNS_TYPE.SOA || qtype === DNS_TYPE.ANY)) return { rcode: DNS_RCODE.NOERROR, answers: [this.soa!], authorities: [] };
      // The apex exists (it has the SOA); everything else without records does not.
      return { rcode: name === this.domain ? DNS_RCODE.NOERROR : DNS_RCODE.NXDOMAIN, answers: [], authorities: soaAuthority };
    }
    const match = records.filter((r) => qtype === DNS_TYPE.ANY || r.type === qtype).map((r) => ({ ...r, name: qname }));
    return { rcode: DNS_RCODE.NOERROR, answers: match, authorities: match.length === 0 ? soaAuthority : [] };
  }
}
