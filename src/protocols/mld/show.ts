/** Text for `turtle6ctl show mld groups` (in the spirit of KAME ifmcstat) and `show mld interfaces`. */
import type { ModuleStatus } from '../module.js';
import type { MldModule } from './mld.js';

type GroupsData = ReturnType<MldModule['groupsData']>;
type InterfacesData = ReturnType<MldModule['interfacesData']>;

/** Left-aligned columns two spaces apart (src/app's formatter is an upper layer). */
function columns(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function renderGroups(groups: GroupsData): ModuleStatus {
  const text = columns(
    ['INTERFACE', 'GROUP', 'MODE', 'SOURCES', 'EXCLUDED', 'UPTIME', 'EXPIRES', 'V1 HOST'],
    groups.map((g) => [g.interface, g.group, g.mode, g.sources.join(',') || '-', g.excluded.join(',') || '-', `${g.uptime}s`, `${g.expires}s`, g.v1Host ? 'yes' : 'no']),
  );
  return { data: { groups }, text };
}

export function renderInterfaces(data: InterfacesData): ModuleStatus {
  const table = columns(
    ['INTERFACE', 'VERSION', 'QUERIER', 'NEXT QUERY', 'GROUPS', 'SENT Q/R/D', 'RECEIVED Q/R/D'],
    data.interfaces.map((i) => [
      i.name, i.version === i.configuredVersion ? `v${i.version}` : `v${i.version} (v1 querier present)`,
      i.querier === null ? '-' : `${i.querier}${i.isQuerier ? ' (this router)' : ''}`,
      i.nextQuery === null ? '-' : `${i.nextQuery}s`, i.groups,
      `${i.sent.query_v1 + i.sent.query_v2}/${i.sent.report_v1 + i.sent.report_v2}/${i.sent.done}`,
      `${i.received.query_v1 + i.received.query_v2}/${i.received.report_v1 + i.received.report_v2}/${i.received.done}`,
    ]),
  );
  const own = data.interfaces.map((i) => `${i.name} reports: ${i.joined.join(' ') || '-'}\n`).join('');
  const drops = `drops: ${Object.entries(data.drops).map(([k, v]) => `${k}=${v}`).join(' ')}\n`;
  return { data, text: `${table}\n${own}${drops}` };
}
