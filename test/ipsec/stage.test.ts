/**
 * The lane's ESP stage (src/dataplane/esp.ts) over SAB tables built from config: a router
 * encapsulates, its peer (a second stage with the mirrored SAs) decapsulates, in tunnel and
 * transport mode with GCM and CBC+HMAC; then every failure lands in its own drop reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipsecSection, type IpsecConfig } from '../../src/config/sections/ipsec.js';
import { saRecord, saRecords, policyRecords } from '../../src/ipsec/model.js';
import { assignReserved } from '../helpers/esp-stage.js';
import { nativeCryptoAvailable } from '../../src/ipsec/native-transform.js';
import { IpsecState, IpsecView, ST, encodeIpsecTables, ipsecTablesByteLength } from '../../src/shm/ipsec-tables.js';
import { EspStage, ESP_BYPASS, ESP_IN_TRANSPORT, ESP_IN_TUNNEL } from '../../src/dataplane/esp.js';
import { C } from '../../src/dataplane/counters.js';
import { encodeIpv6Header, IPPROTO, IPV6_HEADER_LEN } from '../../src/wire/ipv6.js';
import { parseIpv6 } from '../../src/lib/addr.js';
import { PacketContext } from '../../src/dataplane/packet-context.js';

/** Where the ESP stage leaves what it found out about a packet (its position after encapsulation or decapsulation). */
const pc = new PacketContext();

const GCM_KEY = '0x' + '11'.repeat(16) + 'cafebabe';
const CBC_KEY = '0x' + '22'.repeat(16);
const AUTH_KEY = '0x' + '33'.repeat(32);

function parse(raw: unknown): IpsecConfig {
  const r = ipsecSection.schema.safeParse(raw);
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  return r.data!;
}

/** One side: its tables and stage. */
function side(cfg: IpsecConfig, lanes = 1, lane = 0) {
  const state = IpsecState.create();
  const installed = assignReserved(state, cfg.sas, lanes);
  const sas = installed.map(saRecord);
  const policies = policyRecords(cfg.policies, installed);
  const region = new Uint8Array(ipsecTablesByteLength(sas, policies) + 64);
  encodeIpsecTables(sas, policies, region.subarray(8));
  const view = new IpsecView();
  view.bind(region, 8);
  const stage = new EspStage(state, lane);
  stage.bind(view);
  return { stage, state, installed };
}

function sas(mode: 'tunnel' | 'transport', alg: 'gcm' | 'cbc', extra: Record<string, unknown> = {}) {
  const keys = alg === 'gcm' ? { encryption: 'aes-gcm-128', encKey: GCM_KEY } : { encryption: 'aes-cbc-128', encKey: CBC_KEY, integrity: 'hmac-sha256-128', authKey: AUTH_KEY };
  const a = { mode, src: '2001:db8:ffff::1', dst: '2001:db8:ffff::2', ...keys, ...extra };
  const sel = mode === 'tunnel' ? { src: '2001:db8:1::/48', dst: '2001:db8:2::/48' } : { src: '2001:db8:ffff::1/128', dst: '2001:db8:ffff::2/128', proto: 'icmpv6', icmpType: 128 };
  const sender = parse({ sas: [{ spi: 0x1000, direction: 'out', ...a }], policies: [{ direction: 'out', ...sel, sa: 0x1000 }] });
  const receiver = parse({ sas: [{ spi: 0x1000, direction: 'in', ...a }], policies: [{ direction: 'in', ...sel, sa: 0x1000 }] });
  return { sender, receiver };
}

const HEAD = 128;

/** An ICMPv6 Echo Request packet at offset HEAD of a 2048-byte slot. */
function echo(src: string, dst: string, size = 32): { b: Uint8Array; len: number } {
  const b = new Uint8Array(2048).fill(0xa5);
  const len = IPV6_HEADER_LEN + 8 + size;
  encodeIpv6Header({ trafficClass: 0, flowLabel: 0, payloadLength: 8 + size, nextHeader: IPPROTO.ICMPV6, hopLimit: 64, src: parseIpv6(src)!, dst: parseIpv6(dst)! }, b, HEAD);
  b[HEAD + 40] = 128;
  for (let i = 0; i < size; i++) b[HEAD + 48 + i] = i;
  return { b, len };
}

for (const mode of ['tunnel', 'transport'] as const) {
  for (const alg of ['gcm', 'cbc'] as const) {
    test(`${mode} × ${alg}: encapsulate, then the peer decapsulates the original packet`, () => {
      const { sender, receiver } = sas(mode, alg);
      const tx = side(sender);
      const rx = side(receiver);
      const [src, dst] = mode === 'tunnel' ? ['2001:db8:1::10', '2001:db8:2::20'] : ['2001:db8:ffff::1', '2001:db8:ffff::2'];
      const { b, len } = echo(src, dst);
      const original = b.slice(HEAD, HEAD + len);
      const sa = tx.stage.outbound(b, HEAD, len);
      assert.equal(sa, 0);
      const outIp = tx.stage.encapsulate(b, HEAD, len, sa, pc);
      assert.ok(outIp >= 0 && outIp < HEAD);
      assert.equal(b[outIp + 6], IPPROTO.ESP);
      assert.equal(pc.len - len, tx.stage.overhead(sa, len), 'overhead() predicts the growth (Packet Too Big uses it)');
      assert.equal(tx.state.field(tx.installed[0]!.slot, ST.seqOut), 1);
      const r = rx.stage.inbound(b, outIp, pc.len, pc);
      assert.equal(r, mode === 'tunnel' ? ESP_IN_TUNNEL : ESP_IN_TRANSPORT);
      assert.deepEqual(b.slice(pc.ip, pc.ip + pc.len), original);
      assert.equal(rx.state.field(rx.installed[0]!.slot, ST.packets), 1);
    });
  }
}

test('drops: unknown SPI, replay, integrity (ciphertext, ICV, SPI), policy mismatch; each counted apart', () => {
  const { sender, receiver } = sas('tunnel', 'gcm');
  const tx = side(sender);
  const rx = side(receiver);
  const make = () => {
    const { b, len } = echo('2001:db8:1::10', '2001:db8:2::20');
    const ip = tx.stage.encapsulate(b, HEAD, len, 0, pc);
    return { b, ip, len: pc.len };
  };
  const p1 = make();
  const copy = p1.b.slice();
  assert.equal(rx.stage.inbound(p1.b, p1.ip, p1.len, pc), ESP_IN_TUNNEL);
  assert.equal(rx.stage.inbound(copy, p1.ip, p1.len, pc), -C.esp_replay, 'the same packet again');
  for (const at of [p1.len - 1, 60, 40]) {
    const p = make();
    p.b[p.ip + at] ^= 1;
    const want = at === 40 ? -C.esp_unknown_spi : -C.esp_integrity;
    assert.equal(rx.stage.inbound(p.b, p.ip, p.len, pc), want, `flipped byte ${at}`);
  }
  const slot = rx.installed[0]!.slot;
  assert.equal(rx.state.field(slot, ST.integrity), 2);
  assert.equal(rx.state.field(slot, ST.replay), 1);
  // A packet that authenticates but carries traffic outside the SA's policy.
  const { b, len } = echo('2001:db8:9::1', '2001:db8:2::20');
  const ip = tx.stage.encapsulate(b, HEAD, len, 0, pc);
  assert.equal(rx.stage.inbound(b, ip, pc.len, pc), -C.esp_policy_mismatch);
  // Cleartext for a protected flow is refused on the way in.
  const clear = echo('2001:db8:1::10', '2001:db8:2::20');
  assert.equal(rx.stage.inboundCleartext(clear.b, HEAD, clear.len), -C.esp_policy_mismatch);
  const other = echo('2001:db8:7::1', '2001:db8:8::1');
  assert.equal(rx.stage.inboundCleartext(other.b, HEAD, other.len), 0);
  assert.equal(tx.stage.outbound(other.b, HEAD, other.len), ESP_BYPASS);
});

test('out-of-order arrivals inside the window are accepted once; a 1024 window reaches back 1024', () => {
  const { sender, receiver } = sas('tunnel', 'cbc', { replayWindow: 1024 });
  const tx = side(sender);
  const rx = side(receiver);
  const packets: { b: Uint8Array; ip: number; len: number }[] = [];
  for (let i = 0; i < 1100; i++) {
    const { b, len } = echo('2001:db8:1::10', '2001:db8:2::20', 8);
    const ip = tx.stage.encapsulate(b, HEAD, len, 0, pc);
    packets.push({ b, ip, len: pc.len });
  }
  const deliver = (i: number) => rx.stage.inbound(packets[i]!.b.slice(), packets[i]!.ip, packets[i]!.len, pc);
  assert.equal(deliver(1099), ESP_IN_TUNNEL, 'sequence 1100 first');
  assert.equal(deliver(100), ESP_IN_TUNNEL, 'sequence 101: inside a 1024 window');
  assert.equal(deliver(100), -C.esp_replay);
  assert.equal(deliver(74), -C.esp_replay, 'sequence 75: left of the window (1100 − 1024)');
  assert.equal(deliver(76), ESP_IN_TUNNEL, 'sequence 77: the window’s left edge');
});

test('ESN: an SA started near 2³² keeps going across the wrap; without ESN it stops (RFC 4303 §3.3.3)', () => {
  const near = 2 ** 32 - 3;
  const { sender, receiver } = sas('tunnel', 'gcm', { esn: true, initialSeq: near });
  const tx = side(sender);
  const rx = side(receiver);
  for (let i = 0; i < 6; i++) {
    const { b, len } = echo('2001:db8:1::10', '2001:db8:2::20');
    const ip = tx.stage.encapsulate(b, HEAD, len, 0, pc);
    assert.ok(ip >= 0);
    assert.equal(rx.stage.inbound(b, ip, pc.len, pc), ESP_IN_TUNNEL, `packet ${near + i + 1}`);
  }
  assert.equal(rx.state.field(rx.installed[0]!.slot, ST.replayTop), near + 6);
  const plain = sas('tunnel', 'gcm', { initialSeq: 2 ** 32 - 2 });
  const tx32 = side(plain.sender);
  const one = echo('2001:db8:1::10', '2001:db8:2::20');
  assert.ok(tx32.stage.encapsulate(one.b, HEAD, one.len, 0, pc) >= 0, 'sequence 2³² − 1 is the last');
  const two = echo('2001:db8:1::10', '2001:db8:2::20');
  assert.equal(tx32.stage.encapsulate(two.b, HEAD, two.len, 0, pc), -C.esp_seq_overflow);
});

test('a protect policy whose SA is gone discards, and a home lane elsewhere is not processed here', () => {
  const cfg = parse({
    sas: [{ spi: 0x2001, direction: 'in', src: '2001:db8::1', dst: '2001:db8::2', encryption: 'aes-gcm-128', encKey: GCM_KEY }],
    policies: [{ direction: 'out', dst: '2001:db8:5::/48', action: 'discard' }],
  });
  const s = side(cfg, 2, 0);
  const { b, len } = echo('2001:db8:1::10', '2001:db8:5::1');
  assert.equal(s.stage.outbound(b, HEAD, len), -C.esp_policy_discard);
  // SPI 0x2001 is odd: home lane 1 of 2.
  b[HEAD + 6] = IPPROTO.ESP;
  b.set([0, 0, 0x20, 0x01, 0, 0, 0, 1], HEAD + 40);
  assert.equal(s.stage.inbound(b, HEAD, len, pc), -C.esp_wrong_lane);
});

test('a new table generation that changes only the crypto path rebuilds the SA’s transform on that path', (t) => {
  if (!nativeCryptoAvailable()) {
    t.diagnostic('libt6crypto.so is not built: the native path cannot be told apart');
  }
  const { sender } = sas('tunnel', 'gcm');
  const state = IpsecState.create();
  const installed = assignReserved(state, sender.sas, 1);
  const policies = policyRecords(sender.policies, installed);
  const stage = new EspStage(state, 0);
  // The transform class is what tells the paths apart: both put identical bytes on the wire.
  const transformClass = () => (stage as unknown as { transforms: Array<{ constructor: { name: string } }> }).transforms[0]!.constructor.name;
  const bindOn = (crypto: 'node' | 'native') => {
    const records = saRecords(installed, [], crypto);
    const region = new Uint8Array(ipsecTablesByteLength(records, policies));
    encodeIpsecTables(records, policies, region);
    const view = new IpsecView();
    view.bind(region, 0);
    stage.bind(view);
  };
  bindOn('node');
  assert.equal(transformClass(), 'GcmTransform');
  if (nativeCryptoAvailable()) {
    bindOn('native');
    assert.equal(transformClass(), 'NativeTransform', 'same SA (same uid), new path: rebuilt');
  }
  bindOn('node');
  assert.equal(transformClass(), 'GcmTransform');
});
