/** Shared pieces of the stack unit tests: a recording NdTransport and a two-port interface table. */
import type { NdMessage } from '../../src/wire/nd.js';
import { InterfaceTable } from '../../src/stack/interfaces.js';
import type { NdTransport } from '../../src/stack/nd.js';
import { ip, mac } from '../helpers/addr.js';
export { ip, mac };

export interface SentNd {
  at: number;
  port: number;
  src: Uint8Array;
  dst: Uint8Array;
  dstMac: Uint8Array | null;
  msg: NdMessage;
}

/** Records every call, stamped with the clock's time. */
export class RecordingTransport implements NdTransport {
  readonly nd: SentNd[] = [];
  readonly resolved: Array<{ at: number; port: number; dstMac: Uint8Array; packet: Uint8Array }> = [];
  readonly unreachables: Array<{ at: number; port: number; packet: Uint8Array }> = [];
  changes = 0;

  constructor(private readonly now: () => number) {}

  sendNd(port: number, src: Uint8Array, dst: Uint8Array, dstMac: Uint8Array | null, msg: NdMessage): void {
    this.nd.push({ at: this.now(), port, src, dst, dstMac, msg });
  }
  sendResolved(port: number, dstMac: Uint8Array, ipPacket: Uint8Array): void {
    this.resolved.push({ at: this.now(), port, dstMac, packet: ipPacket });
  }
  unreachable(port: number, ipPacket: Uint8Array): void {
    this.unreachables.push({ at: this.now(), port, packet: ipPacket });
  }
  neighborsChanged(): void {
    this.changes++;
  }
  ofType<T extends NdMessage['type']>(type: T): Array<SentNd & { msg: Extract<NdMessage, { type: T }> }> {
    return this.nd.filter((s): s is SentNd & { msg: Extract<NdMessage, { type: T }> } => s.msg.type === type);
  }
}

export const ROUTER_MAC = mac('02:00:00:00:00:01');
export const ROUTER_GLOBAL = ip('2001:db8:1::1');
export const HOST_MAC = mac('52:54:00:aa:bb:cc');
export const HOST_MAC_2 = mac('52:54:00:dd:ee:ff');
export const HOST = ip('2001:db8:1::99');
export const HOST_LL = ip('fe80::5054:ff:feaa:bbcc');

/** Port 0: a TAP with 2001:db8:1::1/64; port 1: a TUN. Every address already preferred. */
export function twoPorts(): InterfaceTable {
  const ifaces = new InterfaceTable();
  ifaces.add({ name: 'lan0', port: 0, kind: 'tap', mac: ROUTER_MAC, linkLocalState: 'preferred' });
  ifaces.addAddress(0, ROUTER_GLOBAL, 64, 'config', 'preferred');
  ifaces.add({ name: 'tun1', port: 1, kind: 'tun', linkLocalState: 'preferred' });
  return ifaces;
}

/** A minimal IPv6 packet from `src` to `dst` whose payload byte tells packets apart. */
export function packet(src: Uint8Array, dst: Uint8Array, marker: number): Uint8Array {
  const p = new Uint8Array(41);
  p[0] = 0x60;
  p[5] = 1;
  p[6] = 59;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  p[40] = marker;
  return p;
}
