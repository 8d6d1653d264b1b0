/**
 * The lane's ESP crypto, once per SA per batch (lane.ts, sealDeferred and openDeferred).
 * Outbound: a batch from H1 whose packets interleave three SAs (AES-GCM-128; AES-CBC-128 +
 * HMAC-SHA-256-128; AES-GCM-256 with ESN, crossing 2³² within the batch) leaves with every
 * packet decryptable by the node:crypto transform and each SA's sequence numbers consecutive
 * in transmit order; a group whose seal fails is counted and never sent; a traced packet and
 * a packet punted for resolution are sealed before anyone looks at them. Inbound: the
 * mirror image, from a peer stage on node:crypto, with tampered packets and duplicates
 * within the batch among them. The router runs on each crypto path (the C helper when built,
 * and node:crypto). Topology: test/dataplane/harness.ts; the tunnels' far ends are on port 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ipsecSection, type IpsecConfig } from '../../src/config/sections/ipsec.js';
import { saRecord, policyRecords } from '../../src/ipsec/model.js';
import { assignReserved } from '../helpers/esp-stage.js';
import { nodeTransform, SEAL_FAILED, type TransformKeys } from '../../src/ipsec/transform.js';
import { nativeCryptoAvailable } from '../../src/ipsec/native-transform.js';
import { CRYPTO_NATIVE, CRYPTO_NODE, IpsecState, IpsecView, encodeIpsecTables, ipsecTablesByteLength } from '../../src/shm/ipsec-tables.js';
import { EspStage } from '../../src/dataplane/esp.js';
import { C } from '../../src/dataplane/counters.js';
import { armTrace } from '../../src/dataplane/trace.js';
import { INJECT_ROUTE, PUNT_RESOLVE } from '../../src/shm/punt.js';
import { checkEspTrailer, ESP_NEXT_HEADER_IPV6 } from '../../src/wire/esp.js';
import { IPPROTO, IPV6_HEADER_LEN } from '../../src/wire/ipv6.js';
import { parseIpv6 } from '../../src/lib/addr.js';
import { LaneHarness, TAP0, TAP1, H1, H1_MAC, H2_MAC, R1_MAC, ethFrame, fromH1, ipv6Packet } from '../dataplane/harness.js';
import { PacketContext } from '../../src/dataplane/packet-context.js';

/** Where the ESP stage leaves what it found out about a packet (its position after encapsulation or decapsulation). */
const pc = new PacketContext();

const TWO_32 = 0x1_0000_0000;
const ROUTER = '2001:db8:2::1';
const PEER = '2001:db8:2::20';
/** On port 1 with an INCOMPLETE neighbour entry (harness.ts): its packets are punted for resolution. */
const UNRESOLVED_PEER = '2001:db8:2::21';

interface SaSpec {
  readonly spi: number;
  readonly dst: string;
  /** The inner destinations it protects. */
  readonly prefix: string;
  readonly encryption: TransformKeys['encryption'];
  readonly encKey: string;
  readonly integrity: TransformKeys['integrity'];
  readonly authKey: string;
  readonly esn: boolean;
  readonly initialSeq: number;
}

const SAS: readonly SaSpec[] = [
  { spi: 0x1000, dst: PEER, prefix: '2001:db8:3::a:0/112', encryption: 'aes-gcm-128', encKey: '41'.repeat(16) + '01020304', integrity: 'none', authKey: '', esn: false, initialSeq: 0 },
  { spi: 0x1001, dst: PEER, prefix: '2001:db8:3::b:0/112', encryption: 'aes-cbc-128', encKey: '42'.repeat(16), integrity: 'hmac-sha256-128', authKey: '43'.repeat(32), esn: false, initialSeq: 0 },
  // Seq-hi changes from 0 to 1 in the middle of a batch: each packet's own Seq-hi goes to the helper.
  { spi: 0x1002, dst: PEER, prefix: '2001:db8:3::c:0/112', encryption: 'aes-gcm-256', encKey: '44'.repeat(32) + '05060708', integrity: 'none', authKey: '', esn: true, initialSeq: TWO_32 - 4 },
  { spi: 0x1003, dst: UNRESOLVED_PEER, prefix: '2001:db8:3::d:0/112', encryption: 'aes-gcm-128', encKey: '45'.repeat(16) + '0a0b0c0d', integrity: 'none', authKey: '', esn: false, initialSeq: 0 },
];

/** Inbound SAs from PEER: SA i protects what comes from IN_SAS[i].prefix to H1's LAN. */
const IN_SAS: readonly SaSpec[] = [
  { spi: 0x2000, dst: ROUTER, prefix: '2001:db8:3::a:0/112', encryption: 'aes-gcm-128', encKey: '51'.repeat(16) + '01020304', integrity: 'none', authKey: '', esn: false, initialSeq: 0 },
  { spi: 0x2001, dst: ROUTER, prefix: '2001:db8:3::b:0/112', encryption: 'aes-cbc-128', encKey: '52'.repeat(16), integrity: 'hmac-sha256-128', authKey: '53'.repeat(32), esn: false, initialSeq: 0 },
  { spi: 0x2002, dst: ROUTER, prefix: '2001:db8:3::c:0/112', encryption: 'aes-gcm-256', encKey: '54'.repeat(32) + '05060708', integrity: 'none', authKey: '', esn: true, initialSeq: TWO_32 - 4 },
];

/** Host `host` of SA i's /112 (outbound: the inner destination; inbound: the inner source). */
function addrIn(sas: readonly SaSpec[], sa: number, host: number): Uint8Array {
  return parseIpv6(sas[sa]!.prefix.replace('0/112', (host + 1).toString(16)))!;
}
const dstOf = (sa: number, host: number) => addrIn(SAS, sa, host);

/**
 * The router's stage, with its seal and open calls recorded (SA, packets) and, for the SAs
 * in `failing`, every seal reported failed with the packets left as they were (plaintext).
 */
class RecordingStage extends EspStage {
  readonly calls: Array<[number, number]> = [];
  readonly opens: Array<[number, number]> = [];
  failing = new Set<number>();

  override sealBatch(sa: number, b: Uint8Array, n: number, espOff: Int32Array, ptLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    this.calls.push([sa, n]);
    if (!this.failing.has(sa)) return super.sealBatch(sa, b, n, espOff, ptLen, seqHi, outLen);
    outLen.fill(SEAL_FAILED, 0, n);
  }

  override openBatch(sa: number, b: Uint8Array, n: number, espOff: Int32Array, espLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    this.opens.push([sa, n]);
    super.openBatch(sa, b, n, espOff, espLen, seqHi, outLen);
  }
}

/** Config for tunnel SAs from `src` (direction `dir`), each with a policy for its prefix, on the side of H1's LAN. */
function ipsecConfig(sas: readonly SaSpec[], src: string, dir: 'in' | 'out', policyDir: 'in' | 'out', towardsH1: boolean): IpsecConfig {
  const raw = {
    sas: sas.map((s) => ({
      spi: s.spi,
      direction: dir,
      mode: 'tunnel',
      src,
      dst: s.dst,
      encryption: s.encryption,
      encKey: '0x' + s.encKey,
      ...(s.integrity === 'none' ? {} : { integrity: s.integrity, authKey: '0x' + s.authKey }),
      esn: s.esn,
      initialSeq: s.initialSeq,
    })),
    policies: sas.map((s) => ({ direction: policyDir, ...(towardsH1 ? { src: s.prefix, dst: '2001:db8:1::/64' } : { src: '2001:db8:1::/64', dst: s.prefix }), sa: s.spi })),
  };
  const r = ipsecSection.schema.safeParse(raw);
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  return r.data as IpsecConfig;
}

function bindStage<T extends EspStage>(stage: T, state: IpsecState, configs: readonly IpsecConfig[], crypto: number): T {
  const installed = assignReserved(state, configs.flatMap((c) => c.sas), 1);
  const sas = installed.map((sa) => ({ ...saRecord(sa), crypto }));
  const policies = configs.flatMap((c) => policyRecords(c.policies, installed));
  const region = new Uint8Array(ipsecTablesByteLength(sas, policies));
  encodeIpsecTables(sas, policies, region);
  const view = new IpsecView();
  view.bind(region, 0);
  stage.bind(view);
  return stage;
}

/** The router: SAS out towards the peers, IN_SAS in from PEER. */
function routerStage(crypto: number): RecordingStage {
  const state = IpsecState.create();
  return bindStage(new RecordingStage(state, 0), state, [ipsecConfig(SAS, ROUTER, 'out', 'out', false), ipsecConfig(IN_SAS, PEER, 'in', 'in', true)], crypto);
}

/** The peer behind the tunnels: IN_SAS outbound, on node:crypto. */
function peerStage(): EspStage {
  const state = IpsecState.create();
  return bindStage(new EspStage(state, 0), state, [ipsecConfig(IN_SAS, PEER, 'out', 'out', true)], CRYPTO_NODE);
}

const keysOf = (s: SaSpec): TransformKeys => ({ encryption: s.encryption, integrity: s.integrity, encKey: Buffer.from(s.encKey, 'hex'), authKey: Buffer.from(s.authKey, 'hex') });

/**
 * Decrypts the tunnel-mode ESP packet `outer` (IPv6, no link header) with node:crypto and
 * returns its SA index, 64-bit sequence number and inner packet. `seqHi` is the high half
 * the receiver expects (RFC 4303 Appendix A: the receiver infers it from its window).
 */
function decrypt(outer: Uint8Array, seqHi: (sa: number) => number): { sa: number; seq: number; inner: Uint8Array } {
  assert.equal(outer[6], IPPROTO.ESP);
  assert.equal(((outer[4]! << 8) | outer[5]!) + IPV6_HEADER_LEN, outer.length, 'Payload Length covers the whole ESP packet');
  const b = outer.slice();
  const dv = new DataView(b.buffer);
  const spi = dv.getUint32(IPV6_HEADER_LEN);
  const sa = SAS.findIndex((s) => s.spi === spi);
  assert.ok(sa >= 0, `SPI ${spi.toString(16)}`);
  const spec = SAS[sa]!;
  const hi = spec.esn ? seqHi(sa) : 0;
  const t = nodeTransform(keysOf(spec), spec.esn);
  const ptLen = t.open(b, IPV6_HEADER_LEN, b.length - IPV6_HEADER_LEN, hi);
  assert.ok(ptLen >= 0, `SA ${spec.spi.toString(16)}: the ICV verifies with node:crypto`);
  const pt = IPV6_HEADER_LEN + 8 + t.ivLen;
  const payloadLen = checkEspTrailer(b, pt, ptLen);
  assert.ok(payloadLen >= 0, 'the padding is RFC 4303 §2.4’s');
  assert.equal(b[pt + ptLen - 1], ESP_NEXT_HEADER_IPV6);
  return { sa, seq: hi * TWO_32 + dv.getUint32(IPV6_HEADER_LEN + 4), inner: b.slice(pt, pt + payloadLen) };
}

/** The packet as it leaves the router inside the tunnel: the hop limit decremented. */
function forwarded(pkt: Uint8Array): Uint8Array {
  const want = pkt.slice();
  want[7] = want[7]! - 1;
  return want;
}

/** Seq-hi the receiver would infer for SA i's n-th packet (counting from 1). */
const expectedSeq = (sa: number, n: number) => SAS[sa]!.initialSeq + n;

const PATHS = [
  ...(nativeCryptoAvailable() ? [{ name: 'C helper', crypto: CRYPTO_NATIVE }] : []),
  { name: 'node:crypto', crypto: CRYPTO_NODE },
];

for (const path of PATHS) {
  test(`${path.name}: a batch interleaving three SAs leaves sealed once per SA, every packet decrypting in sequence order`, () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ sa: fc.integer({ min: 0, max: 2 }), udp: fc.uint8Array({ minLength: 8, maxLength: 700 }) }), { minLength: 1, maxLength: 24 }),
        (specs) => {
          const h = new LaneHarness({ batch: 32 });
          try {
            const stage = routerStage(path.crypto);
            h.lane.setEsp(stage);
            const pkts = specs.map((s, i) => ipv6Packet({ src: H1, dst: dstOf(s.sa, i), raw: { nextHeader: IPPROTO.UDP, bytes: s.udp } }));
            const out = h.run(TAP0, ...pkts.map(fromH1));
            assert.equal(out.length, pkts.length, 'every packet leaves');
            // One seal call per SA present, in order of first appearance, with all its packets.
            const order = [...new Set(specs.map((s) => s.sa))];
            assert.deepEqual(stage.calls, order.map((sa) => [sa, specs.filter((s) => s.sa === sa).length]));
            const sent = [0, 0, 0];
            for (let i = 0; i < out.length; i++) {
              assert.equal(out[i]!.port, TAP1);
              const d = decrypt(out[i]!.frame.subarray(14), (sa) => Math.floor(expectedSeq(sa, sent[sa]! + 1) / TWO_32));
              assert.equal(d.sa, specs[i]!.sa, 'transmit order is receive order');
              sent[d.sa]!++;
              assert.equal(d.seq, expectedSeq(d.sa, sent[d.sa]!), 'consecutive sequence numbers per SA');
              assert.deepEqual(d.inner, forwarded(pkts[i]!));
            }
            assert.equal(h.counter(TAP0, C.forwarded), pkts.length);
            assert.equal(h.counter(TAP1, C.tx_packets), pkts.length);
          } finally {
            h.close();
          }
        },
      ),
      { seed: 4303, numRuns: 40 },
    );
  });

  test(`${path.name}: when an SA's seal fails, each of its packets is counted esp_seal_failed (or originated_dropped) and none is sent`, (t) => {
    const h = new LaneHarness({ batch: 32 });
    t.after(() => h.close());
    const stage = routerStage(path.crypto);
    stage.failing.add(1);
    h.lane.setEsp(stage);
    const rand = fc.sample(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 16, maxLength: 16 }), { seed: 4106, numRuns: 1 })[0]!;
    // At least one packet of the failing SA and one of another, whatever the seed says.
    const sas = [1, 0, ...rand];
    const pkts = sas.map((sa, i) => ipv6Packet({ src: H1, dst: dstOf(sa, i), echoData: 20 + 13 * i }));
    // And a packet the router originates, routed into the failing SA (as a control-plane injection).
    const injected = ipv6Packet({ src: H1, dst: dstOf(1, 99), echoData: 50 });
    assert.ok(h.inject(TAP0, INJECT_ROUTE, injected));
    const before = h.snapshot();
    const out = h.run(TAP0, ...pkts.map(fromH1));
    const failed = sas.filter((sa) => sa === 1).length;
    const good = sas.length - failed;
    assert.deepEqual(h.moved(before), {
      '0:rx_packets': sas.length,
      '0:forwarded': good,
      '0:esp_seal_failed': failed,
      '0:injected': 1,
      '0:originated_dropped': 1,
      '1:tx_packets': good,
    });
    assert.equal(out.length, good);
    const sent = [0, 0, 0];
    const kept = pkts.filter((_, i) => sas[i] !== 1);
    for (let i = 0; i < out.length; i++) {
      const d = decrypt(out[i]!.frame.subarray(14), (sa) => Math.floor(expectedSeq(sa, sent[sa]! + 1) / TWO_32));
      assert.notEqual(d.sa, 1);
      sent[d.sa]!++;
      assert.equal(d.seq, expectedSeq(d.sa, sent[d.sa]!));
      assert.deepEqual(d.inner, forwarded(kept[i]!));
    }
    assert.equal(h.counter(TAP0, C.rx_packets), h.counter(TAP0, C.forwarded) + h.counter(TAP0, C.punted) + h.drops(TAP0), 'rx = forwarded + punted + Σ drops');
  });

  test(`${path.name}: a traced packet and a packet punted for resolution are sealed before they are recorded or copied`, (t) => {
    const h = new LaneHarness({ batch: 32 });
    t.after(() => h.close());
    const stage = routerStage(path.crypto);
    h.lane.setEsp(stage);
    // Trace the one packet towards SA 2's prefix; SA 3's tunnel endpoint is unresolved.
    armTrace(h.traceControl, 1, { port: null, proto: null, src: null, dst: { addr: dstOf(2, 0), len: 128 } });
    const sas = [0, 2, 3, 0, 2];
    const pkts = sas.map((sa, i) => ipv6Packet({ src: H1, dst: dstOf(sa, i === 1 ? 0 : i), echoData: 40 + i }));
    const out = h.run(TAP0, ...pkts.map(fromH1));
    // SA 0's two packets and SA 2's untraced one are sealed at the end of the batch.
    assert.deepEqual(stage.calls, [[0, 2], [2, 1]]);
    const traced = h.traced();
    assert.equal(traced.length, 1);
    assert.equal(traced[0]!.verdict, 'forwarded');
    assert.equal(traced[0]!.egress, TAP1);
    const punted = h.punted();
    assert.equal(punted.length, 1);
    assert.equal(punted[0]!.flags, PUNT_RESOLVE);
    const p = decrypt(punted[0]!.packet, () => 0);
    assert.equal(p.sa, 3);
    assert.equal(p.seq, 1);
    assert.deepEqual(p.inner, forwarded(pkts[2]!));
    assert.equal(out.length, 4);
    const sent = [0, 0, 0];
    for (const [k, i] of [0, 1, 3, 4].entries()) {
      const d = decrypt(out[k]!.frame.subarray(14), (sa) => Math.floor(expectedSeq(sa, sent[sa]! + 1) / TWO_32));
      sent[d.sa]!++;
      assert.equal(d.seq, expectedSeq(d.sa, sent[d.sa]!));
      assert.deepEqual(d.inner, forwarded(pkts[i]!));
    }
    assert.deepEqual(sent, [2, 0, 2]);
  });
}

/** Encrypts `pkt` at the peer (its SPD picks the SA); the outer IPv6 packet, framed towards the router. */
function fromPeer(peer: EspStage, pkt: Uint8Array): Uint8Array {
  const b = new Uint8Array(2048);
  const at = 256;
  b.set(pkt, at);
  const sa = peer.outbound(b, at, pkt.length);
  assert.ok(sa >= 0);
  const out = peer.encapsulate(b, at, pkt.length, sa, pc);
  assert.ok(out >= 0);
  return ethFrame(R1_MAC, H2_MAC, b.slice(out, out + pc.len));
}

for (const path of PATHS) {
  test(`${path.name}: inbound, a batch interleaving three SAs is opened once per SA; tampered packets and duplicates within the batch are dropped, the rest forwarded in arrival order`, () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            sa: fc.integer({ min: 0, max: 2 }),
            udp: fc.uint8Array({ minLength: 8, maxLength: 700 }),
            fate: fc.constantFrom('ok', 'ok', 'ok', 'tamper', 'duplicate'),
            at: fc.nat(),
          }),
          { minLength: 1, maxLength: 24 },
        ),
        (specs) => {
          const h = new LaneHarness({ batch: 32 });
          try {
            const stage = routerStage(path.crypto);
            h.lane.setEsp(stage);
            const peer = peerStage();
            const frames: Uint8Array[] = [];
            const sas: number[] = [];
            const want: Uint8Array[] = [];
            const okFrames: Array<{ frame: Uint8Array; sa: number }> = [];
            let tampered = 0;
            let duplicates = 0;
            for (const [i, s] of specs.entries()) {
              if (s.fate === 'duplicate' && okFrames.length > 0) {
                // A copy of an earlier good packet of the batch: authentic, but a replay.
                const orig = okFrames[s.at % okFrames.length]!;
                frames.push(orig.frame.slice());
                sas.push(orig.sa);
                duplicates++;
                continue;
              }
              const pkt = ipv6Packet({ src: addrIn(IN_SAS, s.sa, i), dst: H1, raw: { nextHeader: IPPROTO.UDP, bytes: s.udp } });
              const frame = fromPeer(peer, pkt);
              sas.push(s.sa);
              if (s.fate === 'tamper') {
                frame[frame.length - 1 - (s.at % 16)]! ^= 0x01;
                tampered++;
              } else {
                want.push(forwarded(pkt));
                okFrames.push({ frame, sa: s.sa });
              }
              frames.push(frame);
            }
            const before = h.snapshot();
            const out = h.run(TAP1, ...frames);
            // One open call per SA present (IN_SAS follow SAS in the table), every packet of it included.
            const order = [...new Set(sas)];
            assert.deepEqual(stage.opens, order.map((sa) => [SAS.length + sa, sas.filter((x) => x === sa).length]));
            assert.deepEqual(stage.calls, []);
            const moved: Record<string, number> = { '1:rx_packets': frames.length };
            if (want.length > 0) Object.assign(moved, { '1:forwarded': want.length, '0:tx_packets': want.length });
            if (tampered > 0) moved['1:esp_integrity'] = tampered;
            if (duplicates > 0) moved['1:esp_replay'] = duplicates;
            assert.deepEqual(h.moved(before), moved);
            assert.deepEqual(
              out.map((o) => o.port),
              want.map(() => TAP0),
            );
            for (let i = 0; i < out.length; i++) {
              assert.deepEqual(out[i]!.frame.subarray(0, 6), H1_MAC);
              assert.deepEqual(out[i]!.frame.subarray(14), want[i]!, 'arrival order');
            }
          } finally {
            h.close();
          }
        },
      ),
      { seed: 4301, numRuns: 40 },
    );
  });

  test(`${path.name}: inbound, a traced ESP packet is opened at once and gets its verdict; the rest of the batch is opened per SA`, (t) => {
    const h = new LaneHarness({ batch: 32 });
    t.after(() => h.close());
    const stage = routerStage(path.crypto);
    h.lane.setEsp(stage);
    const peer = peerStage();
    const pkts = [0, 0, 1, 0].map((sa, i) => ipv6Packet({ src: addrIn(IN_SAS, sa, i), dst: H1, echoData: 30 + i }));
    const frames = pkts.map((p) => fromPeer(peer, p));
    // The first ESP frame is traced.
    armTrace(h.traceControl, 1, { port: null, proto: IPPROTO.ESP, src: null, dst: null });
    const out = h.run(TAP1, ...frames);
    assert.deepEqual(stage.opens, [[SAS.length, 2], [SAS.length + 1, 1]]);
    const traced = h.traced();
    assert.equal(traced.length, 1);
    assert.equal(traced[0]!.verdict, 'forwarded');
    assert.equal(traced[0]!.egress, TAP0);
    assert.equal(out.length, 4);
    // The traced one went first; the others follow in arrival order.
    assert.deepEqual(
      out.map((o) => o.frame.subarray(14)),
      pkts.map(forwarded),
    );
  });
}
