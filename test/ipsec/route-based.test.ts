/**
 * Route-based tunnels (`ipsec.tunnels`, issue 6 item 7): the config's checks, the tunnel table
 * in the IPsec snapshot, the RIB's NH_IPSEC nexthops, and a whole lane (MemoryEngine, the
 * test/dataplane/harness.ts ports) whose FIB routes 2001:db8:3::/64 into the tunnel: no
 * policy anywhere, and a peer stage with the mirrored SAs on the other side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipsecSection, type IpsecConfig } from '../../src/config/sections/ipsec.js';
import { saRecords, policyRecords } from '../../src/ipsec/model.js';
import { assignReserved } from '../helpers/esp-stage.js';
import { IpsecState, IpsecView, encodeIpsecTables, ipsecTablesByteLength } from '../../src/shm/ipsec-tables.js';
import { EspStage, ESP_IN_TUNNEL } from '../../src/dataplane/esp.js';
import { C } from '../../src/dataplane/counters.js';
import { NH_CONNECTED, NH_IPSEC, NH_LOCAL, encodeFib, fibByteLength, type FibNexthop, type FibRoute } from '../../src/shm/fib.js';
import { Rib } from '../../src/stack/rib.js';
import { IPPROTO } from '../../src/wire/ipv6.js';
import { LaneHarness, TAP0, TAP1, H1, H1_MAC, H2_MAC, H3, R1_MAC, R1_GLOBAL, ethFrame, fromH1, ip, ipv6Packet } from '../dataplane/harness.js';
import { PacketContext } from '../../src/dataplane/packet-context.js';

/** Where the ESP stage leaves what it found out about a packet (its position after encapsulation or decapsulation). */
const pc = new PacketContext();

const KEY_A = '0x' + '41'.repeat(16) + '01020304';
const KEY_B = '0x' + '42'.repeat(16) + '05060708';
const ROUTER = '2001:db8:2::1';
const PEER = '2001:db8:2::20';
const common = { mode: 'tunnel', encryption: 'aes-gcm-128' };
const SAS = [
  { spi: 0x1000, direction: 'out', src: ROUTER, dst: PEER, encKey: KEY_A, ...common },
  { spi: 0x2000, direction: 'in', src: PEER, dst: ROUTER, encKey: KEY_B, ...common },
];
const TUNNEL = { name: 'site3', saOut: 0x1000, saIn: 0x2000, routes: ['2001:db8:3::/64'] };

function parse(raw: unknown): { ok: true; cfg: IpsecConfig } | { ok: false; messages: string[] } {
  const r = ipsecSection.schema.safeParse(raw);
  if (r.success) return { ok: true, cfg: r.data as IpsecConfig };
  return { ok: false, messages: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
}

function config(raw: unknown): IpsecConfig {
  const r = parse(raw);
  if (!r.ok) throw new Error(r.messages.join('\n'));
  return r.cfg;
}

/** The tables of `cfg` with only the SAs `keep` selects installed (the others expired). */
function tables(cfg: IpsecConfig, state: IpsecState, keep: (spi: number) => boolean = () => true): IpsecView {
  const installed = assignReserved(state, cfg.sas.filter((sa) => keep(sa.spi)), 1);
  const sas = saRecords(installed, cfg.tunnels);
  const policies = policyRecords(cfg.policies, installed);
  const region = new Uint8Array(ipsecTablesByteLength(sas, policies));
  encodeIpsecTables(sas, policies, region);
  const view = new IpsecView();
  view.bind(region, 0);
  return view;
}

function stageFor(raw: unknown): EspStage {
  const state = IpsecState.create();
  const s = new EspStage(state, 0);
  s.bind(tables(config(raw), state));
  return s;
}

test('config: a tunnel names an outbound and an inbound tunnel-mode SA that face each other and serve it alone', () => {
  assert.equal(parse({ sas: SAS, tunnels: [TUNNEL] }).ok, true);
  const bad = (raw: unknown, expected: RegExp) => {
    const r = parse(raw);
    assert.equal(r.ok, false, `accepted: ${JSON.stringify(raw)}`);
    if (!r.ok) assert.ok(r.messages.some((m) => expected.test(m)), `expected ${expected} among ${r.messages.join(' | ')}`);
  };
  bad({ sas: SAS, tunnels: [{ ...TUNNEL, saOut: 0x3000 }] }, /^tunnels\.0\.saOut: the SPI of an outbound SA/);
  bad({ sas: SAS, tunnels: [{ ...TUNNEL, saIn: 0x1000 }] }, /^tunnels\.0\.saIn: the SPI of an inbound SA/);
  bad({ sas: [{ ...SAS[0], mode: 'transport' }, SAS[1]], tunnels: [TUNNEL] }, /^tunnels\.0\.saOut: an SA with mode: tunnel/);
  bad({ sas: [SAS[0], { ...SAS[1], src: '2001:db8:2::21' }], tunnels: [TUNNEL] }, /^tunnels\.0\.saIn: an inbound SA from 2001:db8:2::20 to 2001:db8:2::1/);
  bad(
    { sas: SAS, policies: [{ direction: 'out', dst: '2001:db8:9::/64', sa: 0x1000 }], tunnels: [TUNNEL] },
    /^tunnels\.0\.saOut: an SA of this tunnel alone \(SPI 4096 already serves a policy\)/,
  );
  bad({ sas: SAS, tunnels: [TUNNEL, { ...TUNNEL, routes: [] }] }, /^tunnels\.1\.name: a name no other tunnel has/);
  bad({ sas: SAS, tunnels: [{ ...TUNNEL, routes: ['2001:db8:3::1/64'] }] }, /^tunnels\.0\.routes\.0:/);
});

test('tables: the tunnel table maps a tunnel to its outbound SA; an SA of no tunnel reads -1; a tunnel without its outbound SA reads -1', () => {
  const s = stageFor({ sas: [{ ...SAS[0], spi: 0x500 }, ...SAS], tunnels: [TUNNEL] });
  assert.equal(s.tunnelOutSa(0), 1);
  assert.equal(s.routedTunnelOf(0), -1);
  assert.equal(s.routedTunnelOf(1), 0);
  assert.equal(s.routedTunnelOf(2), 0);
  assert.equal(s.tunnelOutSa(1), -1, 'past the table');
  assert.equal(s.tunnelOutSa(-1), -1);
  // The inbound SA alone (the outbound one expired): the tunnel is known, its SA is not.
  const view = tables(config({ sas: SAS, tunnels: [TUNNEL] }), IpsecState.create(), (spi) => spi === 0x2000);
  assert.equal(view.tunnelOutSa(0), -1);
  assert.equal(view.saTunnel(0), 0);
});

test('RIB: an ipsec route compiles to an NH_IPSEC nexthop carrying the tunnel index, shared per tunnel; a tunnel index elsewhere is refused', () => {
  const rib = new Rib();
  const p = (s: string) => ip(s);
  rib.add({ prefix: p('2001:db8:3::'), prefixLen: 64, origin: 'ipsec', preference: 10, metric: 0, kind: 'ipsec', nexthops: [], tunnel: 2 });
  rib.add({ prefix: p('2001:db8:33::'), prefixLen: 48, origin: 'ipsec', preference: 10, metric: 0, kind: 'ipsec', nexthops: [], tunnel: 2 });
  rib.add({ prefix: p('2001:db8:4::'), prefixLen: 64, origin: 'ipsec', preference: 10, metric: 0, kind: 'ipsec', nexthops: [], tunnel: 0 });
  const { routes, nexthops } = rib.compile(() => 1500);
  assert.equal(routes.length, 3);
  assert.deepEqual(nexthops.map((n) => [n.kind, n.port, n.mtu]).sort(), [[NH_IPSEC, 0, undefined], [NH_IPSEC, 2, undefined]]);
  assert.throws(() => rib.add({ prefix: p('2001:db8:5::'), prefixLen: 64, origin: 'x', preference: 10, metric: 0, kind: 'ipsec', nexthops: [] }), /tunnel index goes with kind ipsec/);
  assert.throws(() => rib.add({ prefix: p('2001:db8:5::'), prefixLen: 64, origin: 'x', preference: 10, metric: 0, kind: 'reject', nexthops: [], tunnel: 1 }), /tunnel index goes with kind ipsec/);
  // A better static route for the same prefix wins over the tunnel, as for any origin.
  rib.add({ prefix: p('2001:db8:4::'), prefixLen: 64, origin: 'static', preference: 1, metric: 0, kind: 'unicast', nexthops: [{ port: 1, gateway: null }] });
  assert.equal(rib.best(p('2001:db8:4::'), 64)!.kind, 'unicast');
});

/** The harness's ports with a FIB whose only way to H3's LAN is tunnel 0. */
function laneWithTunnel(t: { after: (fn: () => void) => void }, raw: unknown) {
  const h = new LaneHarness();
  t.after(() => h.close());
  const nexthops: FibNexthop[] = [
    { kind: NH_CONNECTED, port: TAP0, mtu: 1500 },
    { kind: NH_CONNECTED, port: TAP1, mtu: 1500 },
    { kind: NH_LOCAL, port: TAP1 },
    { kind: NH_IPSEC, port: 0 },
  ];
  const routes: FibRoute[] = [
    { prefix: ip('2001:db8:1::'), len: 64, nexthop: 0 },
    { prefix: ip('2001:db8:2::'), len: 64, nexthop: 1 },
    { prefix: R1_GLOBAL, len: 128, nexthop: 2 },
    { prefix: ip('2001:db8:3::'), len: 64, nexthop: 3 },
  ];
  const fibBytes = new Uint8Array(fibByteLength(routes, nexthops));
  encodeFib(routes, nexthops, fibBytes);
  // The harness's tables are static; rebinding its FIB view is how this test routes differently.
  h.lane['tables'].fib.bind(fibBytes, 0);
  const stage = stageFor(raw);
  h.lane.setEsp(stage);
  return { h, stage };
}

const peerStage = () =>
  stageFor({
    sas: [
      { ...SAS[0], direction: 'in' },
      { ...SAS[1], direction: 'out' },
    ],
    tunnels: [{ name: 'back', saOut: 0x2000, saIn: 0x1000, routes: ['2001:db8:1::/64'] }],
  });

function slotted(pkt: Uint8Array): { b: Uint8Array; ip: number } {
  const b = new Uint8Array(2048);
  b.set(pkt, 128);
  return { b, ip: 128 };
}

test('lane: the route alone sends H1’s packet into the tunnel (no policy), and the peer decrypts it', (t) => {
  const { h } = laneWithTunnel(t, { sas: SAS, tunnels: [TUNNEL] });
  const pkt = ipv6Packet({ src: H1, dst: H3, echoData: 100 });
  const out = h.run(TAP0, fromH1(pkt));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.port, TAP1, 'towards the tunnel endpoint');
  assert.deepEqual(out[0]!.frame.subarray(0, 6), H2_MAC);
  const outer = out[0]!.frame.subarray(14);
  assert.equal(outer[6], IPPROTO.ESP);
  const { b, ip: at } = slotted(outer);
  const peer = peerStage();
  assert.equal(peer.inbound(b, at, outer.length, pc), ESP_IN_TUNNEL);
  const want = pkt.slice();
  want[7] = want[7]! - 1;
  assert.deepEqual(b.slice(pc.ip, pc.ip + pc.len), want);
  assert.equal(h.counter(TAP0, C.forwarded), 1);
});

test('lane: what comes out of the tunnel from a source the tunnel routes is forwarded; any other source is a policy mismatch', (t) => {
  const { h } = laneWithTunnel(t, { sas: SAS, tunnels: [TUNNEL] });
  const peer = peerStage();
  const send = (src: Uint8Array) => {
    const pkt = ipv6Packet({ src, dst: H1, echoData: 40 });
    const { b, ip: at } = slotted(pkt);
    const outIp = peer.encapsulate(b, at, pkt.length, peer.tunnelOutSa(0), pc);
    return { pkt, out: h.run(TAP1, ethFrame(R1_MAC, H2_MAC, b.slice(outIp, outIp + pc.len))) };
  };
  const { pkt, out } = send(H3);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.port, TAP0);
  assert.deepEqual(out[0]!.frame.subarray(0, 6), H1_MAC);
  assert.deepEqual(out[0]!.frame.subarray(14 + 8, 14 + 40), pkt.subarray(8, 40));
  const spoofed = send(ip('2001:db8:2::99'));
  assert.equal(spoofed.out.length, 0);
  assert.equal(h.counter(TAP1, C.esp_policy_mismatch), 1, 'a source outside the tunnel’s routes');
  assert.equal(h.counter(TAP1, C.rx_packets), h.counter(TAP1, C.forwarded) + h.counter(TAP1, C.punted) + h.drops(TAP1));
});

test('lane: a tunnel without its outbound SA discards what the route sends it', (t) => {
  const { h, stage } = laneWithTunnel(t, { sas: SAS, tunnels: [TUNNEL] });
  // Only the inbound SA is left: tunnel 0 has no outbound SA in these tables.
  stage.bind(tables(config({ sas: SAS, tunnels: [TUNNEL] }), IpsecState.create(), (spi) => spi === 0x2000));
  const out = h.run(TAP0, fromH1(ipv6Packet({ src: H1, dst: H3, echoData: 10 })));
  assert.equal(out.length, 0, 'nothing leaves, in the clear or otherwise');
  assert.equal(h.counter(TAP0, C.esp_policy_discard), 1);
});
