/**
 * MLD through the real stack (a recording Datapath): the Router Alert and hop limit the
 * stack hands to the module, MLD to any group once a module handles it, the listened-groups
 * API and its change event, each bad message dropped and counted by reason, and what the
 * module's messages look like on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, linkLocalFromMac, solicitedNodeMulticast } from '../../src/lib/addr.js';
import { ManualClock } from '../../src/lib/clock.js';
import { SeededRng } from '../../src/lib/rng.js';
import { Stack, type StackLogger } from '../../src/stack/stack.js';
import { buildIcmpv6 } from '../../src/stack/packets.js';
import type { ModuleContext, ModuleLogger } from '../../src/protocols/module.js';
import { MldModule } from '../../src/protocols/mld/mld.js';
import { PUNT_MULTICAST } from '../../src/shm/punt.js';
import { decodeEthernetHeader, ETH_HEADER_LEN } from '../../src/wire/ethernet.js';
import { decodeIpv6Header, IPPROTO, IPV6_HEADER_LEN } from '../../src/wire/ipv6.js';
import { verifyIcmpv6Checksum } from '../../src/wire/icmpv6.js';
import { decodeMldMessage, encodeMldMessage, mldMessageLength, MLD_RECORD_TYPE, type MldMessage } from '../../src/wire/mld.js';
import { FakeDatapath } from './fake-datapath.js';
import { ROUTER_GLOBAL, ROUTER_MAC, ip } from './fixtures.js';
import { interfaceConfig } from '../protocols/mld/harness.js';

const quiet: StackLogger = { info() {}, warn() {}, debug() {} };
const quietModule: ModuleLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const HOST_LL = ip('fe80::5054:ff:feaa:bbcc');

function setup(version: 1 | 2 = 2, withModule = true) {
  const clock = new ManualClock(0);
  const datapath = new FakeDatapath();
  const stack = new Stack({ clock, rng: new SeededRng(3), datapath, log: quiet });
  stack.addInterface({ name: 'lan0', port: 0, kind: 'tap', mac: ROUTER_MAC, mtu: 1500, addresses: [{ addr: ROUTER_GLOBAL, prefixLen: 64 }], ra: null });
  stack.publishTables();
  const mld = new MldModule();
  if (withModule) {
    const ctx: ModuleContext = {
      api: stack.api('mld'), log: quietModule, limited: () => quietModule,
      metrics: { gauge() {}, counter() {} }, commands: { register() {} }, stateDir: '',
    };
    mld.start(ctx, { interfaces: [interfaceConfig('lan0', { version })] });
  }
  return { clock, datapath, stack, mld };
}

function mld(msg: MldMessage, opts: { src?: Uint8Array; dst: Uint8Array; hopLimit?: number; routerAlert?: number | null; corrupt?: boolean; cut?: number }): Uint8Array {
  const whole = new Uint8Array(mldMessageLength(msg));
  encodeMldMessage(msg, whole, 0);
  const body = whole.subarray(4, whole.length - (opts.cut ?? 0));
  const pkt = buildIcmpv6(opts.src ?? HOST_LL, opts.dst, whole[0]!, 0, body, { hopLimit: opts.hopLimit ?? 1, ...(opts.routerAlert === null ? {} : { routerAlert: opts.routerAlert ?? 0 }) });
  if (opts.corrupt) pkt[pkt.length - 1]! ^= 0xff;
  return pkt;
}

const report = (group: string, type: number = MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE): MldMessage => ({
  type: 'mldv2Report', records: [{ recordType: type, group: ip(group), sources: [], auxData: new Uint8Array(0) }],
});

test('a host\'s MLDv2 Report to ff02::16 and an MLDv1 Report to an unjoined group both reach the module', () => {
  const { datapath, mld: m } = setup();
  datapath.punt(mld(report('ff05::1:3'), { dst: ip('ff02::16') }), 0, PUNT_MULTICAST);
  datapath.punt(mld({ type: 'mldv1Report', group: ip('ff05::1:4') }, { dst: ip('ff05::1:4') }), 0, PUNT_MULTICAST);
  assert.deepEqual(m.memberships(0).map((g) => formatIpv6(g.group)).sort(), ['ff05::1:3', 'ff05::1:4']);
});

test('without an MLD module, MLD to an unjoined group is not for the router, and to ff02::1 has no listener', () => {
  const { datapath, stack } = setup(2, false);
  datapath.punt(mld({ type: 'mldv1Report', group: ip('ff05::1:4') }, { dst: ip('ff05::1:4') }), 0, PUNT_MULTICAST);
  assert.equal(stack.drops.not_for_us, 1);
  datapath.punt(mld({ type: 'mldv1Query', maxResponseDelay: 1000, group: ip('::') }, { dst: ip('ff02::1') }), 0, PUNT_MULTICAST);
  assert.equal(stack.drops.no_listener, 1);
});

test('each bad MLD message is dropped and counted by reason; the stack counts bad checksums', () => {
  const { datapath, stack, mld: m } = setup();
  const dst = ip('ff02::16');
  datapath.punt(mld(report('ff05::1'), { dst, hopLimit: 2 }), 0, PUNT_MULTICAST);
  datapath.punt(mld(report('ff05::2'), { dst, routerAlert: null }), 0, PUNT_MULTICAST);
  datapath.punt(mld(report('ff05::3'), { dst, routerAlert: 1 }), 0, PUNT_MULTICAST);
  datapath.punt(mld(report('ff05::4'), { dst, src: ip('2001:db8:1::99') }), 0, PUNT_MULTICAST);
  datapath.punt(mld({ type: 'mldv2Query', maxResponseCode: 1000, group: ip('::'), suppressRouterProcessing: false, robustness: 2, queryIntervalCode: 125, sources: [] }, { dst: ip('ff02::1'), src: ip('::') }), 0, PUNT_MULTICAST);
  datapath.punt(mld(report('ff05::5'), { dst, cut: 4 }), 0, PUNT_MULTICAST);
  datapath.punt(mld(report('ff05::6'), { dst, corrupt: true }), 0, PUNT_MULTICAST);
  assert.deepEqual(
    { bad_hop_limit: m.drops.bad_hop_limit, no_router_alert: m.drops.no_router_alert, bad_source: m.drops.bad_source, malformed: m.drops.malformed },
    { bad_hop_limit: 1, no_router_alert: 2, bad_source: 2, malformed: 1 },
  );
  assert.equal(stack.drops.bad_checksum, 1);
  assert.deepEqual(m.memberships(0), []);
  // A report from :: is a host in DAD (RFC 3590): used.
  datapath.punt(mld(report('ff05::7'), { dst, src: ip('::') }), 0, PUNT_MULTICAST);
  assert.equal(m.memberships(0).length, 1);
});

test('an MLDv2 Report on a version 1 port is dropped as wrong_version', () => {
  const { datapath, mld: m } = setup(1);
  datapath.punt(mld(report('ff05::1'), { dst: ip('ff02::16') }), 0, PUNT_MULTICAST);
  assert.equal(m.drops.wrong_version, 1);
});

test('on the wire: the router\'s reports and queries carry a link-local source, hop limit 1, a Router Alert 0 and a valid checksum', () => {
  const { datapath } = setup();
  const out = datapath.take();
  assert.ok(out.length >= 2, 'a report and a General Query at start');
  const seen = new Set<string>();
  for (const frame of out) {
    const eth = decodeEthernetHeader(frame.data, 0);
    assert.ok(eth.ok);
    const h = decodeIpv6Header(frame.data, ETH_HEADER_LEN);
    assert.ok(h.ok);
    assert.equal(h.value.hopLimit, 1);
    assert.equal(h.value.nextHeader, IPPROTO.HOPOPTS);
    assert.equal(formatIpv6(h.value.src), formatIpv6(linkLocalFromMac(ROUTER_MAC)));
    const pkt = frame.data.subarray(ETH_HEADER_LEN);
    // Hop-by-Hop: next header ICMPv6, Router Alert (type 5, length 2) value 0.
    assert.deepEqual([...pkt.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + 6)], [IPPROTO.ICMPV6, 0, 5, 2, 0, 0]);
    const icmp = IPV6_HEADER_LEN + 8;
    assert.ok(verifyIcmpv6Checksum(pkt, 0, icmp, pkt.length - icmp));
    const d = decodeMldMessage(pkt, icmp);
    assert.ok(d.ok);
    seen.add(`${d.value.type} ${formatIpv6(h.value.dst)}`);
  }
  assert.ok(seen.has('mldv2Report ff02::16'));
  assert.ok(seen.has('mldv2Query ff02::1'));
});

test('listenedGroups: ff02::2, solicited-node groups, joined groups; the change event fires on joins and new addresses', () => {
  const { stack } = setup(2, false);
  const api = stack.api('test');
  const groups = () => api.listenedGroups!(0).map((g) => formatIpv6(g)).sort();
  // 2001:db8:1::1 and fe80::ff:fe00:1 share ff02::1:ff00:1 (listed once); the Subnet-Router
  // anycast address 2001:db8:1:: has ff02::1:ff00:0 (RFC 4291 §2.6.1).
  assert.equal(formatIpv6(solicitedNodeMulticast(linkLocalFromMac(ROUTER_MAC))), 'ff02::1:ff00:1');
  assert.deepEqual(groups(), ['ff02::1:ff00:0', 'ff02::1:ff00:1', 'ff02::2']);
  const changes: number[] = [];
  const off = api.onListenedGroupsChange!((p) => changes.push(p));
  api.joinGroup(0, ip('ff02::9'));
  api.joinGroup(0, ip('ff02::9'));
  assert.deepEqual(changes, [0], 'only the first join changes the set');
  assert.ok(groups().includes('ff02::9'));
  api.leaveGroup(0, ip('ff02::9'));
  assert.ok(groups().includes('ff02::9'), 'still joined once');
  api.leaveGroup(0, ip('ff02::9'));
  assert.ok(!groups().includes('ff02::9'));
  assert.deepEqual(changes, [0, 0]);
  stack.updateInterface(0, { addresses: [{ addr: ROUTER_GLOBAL, prefixLen: 64 }, { addr: ip('2001:db8:1::abcd'), prefixLen: 64 }], mtu: 1500, ra: null });
  assert.ok(changes.length > 2);
  assert.ok(groups().includes('ff02::1:ff00:abcd'));
  off();
});
