/**
 * `turtle6ctl trace N [--if IF] [--src P] [--dst P] [--proto P] [--pcap FILE] [--timeout S]`:
 * arms the lanes (dataplane/trace.ts), waits for N records or S seconds, and shows each
 * frame's verdict and the stages it went through; --pcap writes the frames for tshark/Wireshark.
 */
import { writeFileSync } from 'node:fs';
import { formatIpv6, parsePrefix } from '../lib/addr.js';
import { ETHERTYPE_IPV6, ETH_HEADER_LEN, writeEthHeader } from '../wire/ethernet.js';
import { IPPROTO, IP6_OFF_DST, IP6_OFF_NEXT_HEADER, IP6_OFF_SRC, IPV6_HEADER_LEN } from '../wire/ipv6.js';
import { LINKTYPE_ETHERNET, PcapWriter } from '../wire/pcap.js';
import type { LaneSet } from '../dataplane/lanes.js';
import type { Stage, TraceEsp, TraceFilter, TraceRecord } from '../dataplane/trace.js';
import type { ControlServer } from './control.js';
import { formatTable } from './format.js';

const PROTOCOLS: Record<string, number> = { icmpv6: IPPROTO.ICMPV6, udp: IPPROTO.UDP, tcp: IPPROTO.TCP, esp: IPPROTO.ESP };
const DEFAULT_TIMEOUT_S = 10;
export const MAX_TRACE_TIMEOUT_S = 86_400;

/**
 * How long a trace waits for its N packets, in ms: args.timeout in seconds, or 10. Exported
 * so turtle6ctl waits for the answer at least as long as the appliance waits for packets.
 */
export function traceWaitMs(args: Record<string, unknown>): number {
  const seconds = args['timeout'] ?? DEFAULT_TIMEOUT_S;
  if (typeof seconds !== 'number' || !(seconds > 0 && seconds <= MAX_TRACE_TIMEOUT_S)) {
    throw new Error(`trace: --timeout takes seconds, more than 0 and at most ${MAX_TRACE_TIMEOUT_S}, got ${String(seconds)}`);
  }
  return seconds * 1000;
}

export interface TracePorts {
  byName(name: string): { port: number; kind: 'tap' | 'tun' } | undefined;
  byPort(port: number): { name: string; kind: 'tap' | 'tun' } | undefined;
}

function parseFilter(args: Record<string, unknown>, ports: TracePorts): TraceFilter {
  const text = (k: string) => (typeof args[k] === 'string' ? (args[k] as string) : undefined);
  const ifname = text('if');
  const port = ifname === undefined ? null : ports.byName(ifname)?.port;
  if (port === undefined) throw new Error(`trace: no interface named ${ifname}`);
  const prefix = (k: 'src' | 'dst') => {
    const t = text(k);
    if (t === undefined) return null;
    const p = parsePrefix(t.includes('/') ? t : `${t}/128`);
    if (p === null) throw new Error(`trace: --${k} needs an IPv6 prefix like 2001:db8::/32, got ${t}`);
    return p;
  };
  const protoText = text('proto');
  let proto: number | null = null;
  if (protoText !== undefined) {
    proto = PROTOCOLS[protoText.toLowerCase()] ?? (/^\d{1,3}$/.test(protoText) ? Number(protoText) : NaN);
    if (!(proto >= 0 && proto <= 255)) throw new Error(`trace: --proto takes icmpv6, udp, tcp, esp or 0..255, got ${protoText}`);
  }
  return { port, proto, src: prefix('src'), dst: prefix('dst') };
}

/** The frame as Ethernet, so TAP and TUN records share one pcap link type. */
function asEthernet(record: TraceRecord, kind: 'tap' | 'tun'): Uint8Array {
  if (kind === 'tap') return record.frame;
  const frame = new Uint8Array(ETH_HEADER_LEN + record.frame.length);
  const zero = new Uint8Array(6);
  writeEthHeader(frame, 0, zero, 0, zero, 0, ETHERTYPE_IPV6);
  frame.set(record.frame, ETH_HEADER_LEN);
  return frame;
}

/** A stage as the table shows it: the ESP ones with their SPI and sequence number. */
function stageText(stage: Stage, esp: TraceEsp): string {
  const sa = stage === 'esp-in' ? esp.in : stage === 'esp-out' ? esp.out : null;
  return sa === null ? stage : `${stage}(spi 0x${sa.spi.toString(16).padStart(8, '0')} seq ${sa.seq})`;
}

function summary(frame: Uint8Array): string {
  const ip = frame.length >= ETH_HEADER_LEN + IPV6_HEADER_LEN && frame[12] === 0x86 && frame[13] === 0xdd ? ETH_HEADER_LEN : 0;
  if (frame.length < ip + IPV6_HEADER_LEN || frame[ip]! >> 4 !== 6) return `${frame.length} bytes, not IPv6`;
  return `${formatIpv6(frame, ip + IP6_OFF_SRC)} > ${formatIpv6(frame, ip + IP6_OFF_DST)} nh ${frame[ip + IP6_OFF_NEXT_HEADER]}`;
}

export function registerTraceCommand(control: ControlServer, lanes: LaneSet, ports: TracePorts): void {
  control.register(
    ['trace'],
    async (req, rest) => {
      const count = Number(rest[0]);
      if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new Error('trace: N must be a whole number from 1 to 10000');
      const args = (req.args ?? {}) as Record<string, unknown>;
      const filter = parseFilter(args, ports);
      const records = await lanes.trace(count, filter, traceWaitMs(args));
      const kindOf = (port: number) => ports.byPort(port)?.kind ?? 'tap';
      if (typeof args['pcap'] === 'string') {
        const chunks: Uint8Array[] = [];
        const writer = new PcapWriter((c) => chunks.push(c), LINKTYPE_ETHERNET);
        for (const r of records) {
          const frame = asEthernet(r, kindOf(r.ingress));
          writer.write(frame, 0, frame.length, r.timestampMs);
        }
        writeFileSync(args['pcap'], Buffer.concat(chunks));
      }
      const data = records.map((r) => ({
        lane: r.lane,
        time: new Date(r.timestampMs).toISOString(),
        interface: ports.byPort(r.ingress)?.name ?? String(r.ingress),
        verdict: r.verdict,
        reason: r.reason,
        egress: r.egress === null ? null : (ports.byPort(r.egress)?.name ?? String(r.egress)),
        stages: r.stages,
        esp: r.esp,
        length: r.length,
        summary: summary(asEthernet(r, kindOf(r.ingress))),
      }));
      const rows = data.map((d, i) => [
        String(i + 1),
        d.interface,
        d.verdict + (d.reason ? ` (${d.reason})` : '') + (d.egress ? ` → ${d.egress}` : ''),
        d.stages.map((s) => stageText(s, d.esp)).join('>'),
        d.summary,
      ]);
      const note = records.length < count ? `\n${records.length} of ${count} packets seen before the timeout` : '';
      return { data, text: formatTable(['#', 'In', 'Verdict', 'Stages', 'Packet'], rows) + note };
    },
    'record the next N packets through the lanes: trace N [--if] [--src] [--dst] [--proto] [--pcap] [--timeout]',
  );
}
