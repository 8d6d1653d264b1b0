/**
 * Runs the stub resolver on host sockets inside a test's namespace (`ip netns exec NS node
 * dist/test/interop/dns/run-resolver.js JSON`) and prints what each step came to as JSON:
 * { servers, timeoutMs, attempts, steps: [{ query: NAME, type } | { lookup: NAME, family }] }.
 */
import { SystemClock } from '../../../src/lib/clock.js';
import { dnsTypeName, formatRdata, parseDnsType } from '../../../src/wire/dns.js';
import { HostTransport } from '../../../src/protocols/dns/host-transport.js';
import { lookup, type Family } from '../../../src/protocols/dns/lookup.js';
import { Resolver, RESOLVER_DEFAULTS } from '../../../src/protocols/dns/resolver.js';
import { formatDnsServer, parseDnsServer, type DnsServer } from '../../../src/protocols/dns/transport.js';

interface Input {
  servers: string[];
  timeoutMs?: number;
  attempts?: number;
  steps: Array<{ query: string; type: string } | { lookup: string; family?: Family }>;
}

const input = JSON.parse(process.argv[2]!) as Input;
const servers = input.servers.map((s) => {
  const p = parseDnsServer(s);
  if (typeof p === 'string') throw new Error(p);
  return p;
});
const resolver = new Resolver(
  { clock: new SystemClock(), transport: new HostTransport() },
  { ...RESOLVER_DEFAULTS, servers, timeoutMs: input.timeoutMs ?? 2000, attempts: input.attempts ?? 2 },
);
const out: unknown[] = [];
for (const step of input.steps) {
  if ('query' in step) {
    const o = await resolver.query(step.query, parseDnsType(step.type)!);
    out.push(
      o.ok
        ? {
            ok: true,
            server: formatDnsServer(o.server),
            transport: o.transport,
            edns: o.edns,
            rcode: o.message.rcode,
            tc: o.message.tc,
            answers: o.message.answers.map((r) => ({ name: r.name, type: dnsTypeName(r.type), data: formatRdata(r.rdata) })),
            authorities: o.message.authorities.map((r) => dnsTypeName(r.type)),
          }
        : { ok: false, reason: o.reason, detail: o.detail, server: o.server === undefined ? null : formatDnsServer(o.server as DnsServer) },
    );
  } else {
    out.push(await lookup(resolver, step.lookup, step.family ?? 'any'));
  }
}
console.log(JSON.stringify({ steps: out, stats: Object.fromEntries(resolver.serverStats()) }));
