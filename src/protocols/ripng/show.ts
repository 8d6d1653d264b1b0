/** Text for `turtle6ctl show ripng` and `show ripng status`, in the spirit of ripngd's `show ipv6 ripng`. */
import type { ModuleStatus } from '../module.js';
import type { RipngModule } from './ripng.js';

type TableData = ReturnType<RipngModule['tableData']>;
type StatusData = ReturnType<RipngModule['statusData']>;

/** Left-aligned columns two spaces apart; the module's own, since src/app's formatter is an upper layer. */
function columns(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

const seconds = (s: number | null) => (s === null ? '-' : `${s}s`);

export function renderTable(data: TableData): ModuleStatus {
  const neighbors = columns(
    ['INTERFACE', 'NEIGHBOR', 'LAST HEARD', 'RESPONSES', 'REQUESTS', 'BAD PACKETS', 'BAD ROUTES'],
    data.neighbors.map((n) => [n.interface, n.address, `${n.lastHeardSecondsAgo}s ago`, n.responses, n.requests, n.badPackets, n.badRoutes]),
  );
  const routes = columns(
    ['PREFIX', 'METRIC', 'TAG', 'NEXT HOP', 'SOURCE', 'STATE', 'EXPIRES', 'GC'],
    data.routes.map((r) => [
      r.prefix, r.metric, `0x${r.tag.toString(16)}`,
      r.nexthops.map((n) => (n.gateway === null ? n.interface : `${n.gateway}%${n.interface}`)).join(',') || '-',
      r.source, r.state, seconds(r.expiresInSeconds), seconds(r.garbageInSeconds),
    ]),
  );
  return { data, text: `Neighbors:\n${neighbors}\nRoutes:\n${routes}` };
}

export function renderStatus(data: StatusData): ModuleStatus {
  const head =
    `RIPng: ${data.receiveOnly ? 'receive only' : 'sending'}, ${data.install ? 'installing routes' : 'not installing routes'} (preference ${data.preference}, ECMP ${data.ecmp})\n` +
    `routes: ${data.routes.active} active, ${data.routes.garbage} garbage; triggered updates: ${data.triggeredUpdates}\n` +
    `bad packets: ${Object.entries(data.badPackets).map(([k, v]) => `${k}=${v}`).join(' ')}\n` +
    `bad routes: ${Object.entries(data.badRoutes).map(([k, v]) => `${k}=${v}`).join(' ')}\n`;
  const ifaces = columns(
    ['INTERFACE', 'PASSIVE', 'SPLIT HORIZON', 'COST', 'OFFSET', 'TIMERS (U/T/G)', 'NEXT UPDATE', 'SENT P/T/R', 'RECEIVED RESP/REQ'],
    data.interfaces.map((i) => [
      i.name, i.passive ? 'yes' : 'no', i.splitHorizon, i.metricIn, i.offsetOut, `${i.timers.update}/${i.timers.timeout}/${i.timers.garbage}`,
      seconds(i.nextUpdateInSeconds), `${i.sent.periodic}/${i.sent.triggered}/${i.sent.response}`, `${i.received.responses}/${i.received.requests}`,
    ]),
  );
  const demand = data.interfaces.flatMap((i) =>
    i.demand === null ? [] : [`${i.name}: demand circuit ${i.demand.state}, next seq ${i.demand.seq}, ${i.demand.queued} unacknowledged, ${i.demand.retransmissions} retransmissions, ${i.demand.acksSent} acknowledgements sent\n`],
  );
  return { data, text: `${head}\n${ifaces}${demand.length > 0 ? `\n${demand.join('')}` : ''}` };
}
