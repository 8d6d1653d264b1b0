/**
 * Text for `turtle6ctl show ipsec sa` and `show ipsec policy`, laid out like KAME's
 * `setkey -D` and `setkey -DP`: one block per entry, the addresses first. Keys are never
 * printed (setkey prints them; a control socket that many tools read should not).
 */
import type { ModuleStatus } from '../module.js';

export interface SaRow {
  readonly spi: number;
  readonly direction: 'in' | 'out';
  readonly mode: 'transport' | 'tunnel';
  readonly src: string;
  readonly dst: string;
  readonly encryption: string;
  readonly integrity: string;
  readonly esn: boolean;
  readonly replayWindow: number;
  readonly homeLane: number;
  readonly state: 'mature' | 'dying';
  readonly seq: number;
  readonly packets: number;
  readonly bytes: number;
  readonly drops: Readonly<Record<string, number>>;
  readonly ageSeconds: number;
  readonly lifetime: { readonly softBytes: number; readonly hardBytes: number; readonly softSeconds: number; readonly hardSeconds: number };
}

export interface PolicyRow {
  readonly index: number;
  readonly direction: 'in' | 'out';
  readonly action: 'protect' | 'bypass' | 'discard';
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  readonly srcPort: readonly [number, number] | null;
  readonly dstPort: readonly [number, number] | null;
  readonly icmpType: number | null;
  readonly icmpCode: number | null;
  readonly sa: number | null;
  /** For protect: whether its SA is installed (false after a hard expiry or a flush). */
  readonly saInstalled: boolean | null;
  /** For protect: what the policy does while its SA is not installed. */
  readonly onExpire: 'discard' | 'bypass' | null;
}

const spiText = (spi: number) => `${spi}(0x${spi.toString(16).padStart(8, '0')})`;
const PROTO_NAMES: Record<number, string> = { [-1]: 'any', 6: 'tcp', 17: 'udp', 58: 'icmp6' };

export function renderSas(rows: readonly SaRow[]): ModuleStatus {
  if (rows.length === 0) return { data: rows, text: 'No SAD entries.\n' };
  const text = rows
    .map((r) => {
      const drops = Object.entries(r.drops).map(([k, v]) => `${k}=${v}`).join(' ');
      return (
        `${r.src} ${r.dst}\n` +
        `\tesp mode=${r.mode} spi=${spiText(r.spi)} dir=${r.direction} lane=${r.homeLane}\n` +
        `\tE: ${r.encryption}${r.integrity === 'none' ? '' : `  A: ${r.integrity}`}\n` +
        `\tseq=0x${r.seq.toString(16).padStart(8, '0')} replay=${r.replayWindow} esn=${r.esn ? 'yes' : 'no'} state=${r.state}\n` +
        `\tdiff: ${r.ageSeconds}(s)\thard: ${r.lifetime.hardSeconds}(s)\tsoft: ${r.lifetime.softSeconds}(s)\n` +
        `\tcurrent: ${r.bytes}(bytes)\thard: ${r.lifetime.hardBytes}(bytes)\tsoft: ${r.lifetime.softBytes}(bytes)\n` +
        `\tpackets: ${r.packets}\tdrops: ${drops}\n`
      );
    })
    .join('');
  return { data: rows, text };
}

function selector(prefix: string, ports: readonly [number, number] | null): string {
  if (ports === null) return `${prefix}[any]`;
  return `${prefix}[${ports[0] === ports[1] ? ports[0] : `${ports[0]}-${ports[1]}`}]`;
}

export function renderPolicies(rows: readonly PolicyRow[]): ModuleStatus {
  if (rows.length === 0) return { data: rows, text: 'No SPD entries.\n' };
  const text = rows
    .map((p) => {
      let upper = PROTO_NAMES[p.proto] ?? String(p.proto);
      if (p.icmpType !== null) upper += ` ${p.icmpType}${p.icmpCode !== null ? `,${p.icmpCode}` : ''}`;
      const action = p.action === 'protect' ? 'ipsec' : p.action === 'bypass' ? 'none' : 'discard';
      const sa = p.sa === null ? '' : `\n\tesp spi=${spiText(p.sa)}${p.saInstalled ? '' : p.onExpire === 'bypass' ? ' (SA not installed: bypass, in the clear)' : ' (SA not installed: discards)'}`;
      return `${selector(p.src, p.srcPort)} ${selector(p.dst, p.dstPort)} ${upper}\n\t${p.direction} ${action}${sa}\n\tindex=${p.index}\n`;
    })
    .join('');
  return { data: rows, text };
}
