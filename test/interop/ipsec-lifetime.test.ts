/**
 * SA lifetimes in the running appliance (issue 6, test 6), under traffic that crosses
 * turtle6 ⇄ scapy's SecurityAssociation in tunnel mode (topology: scapy-esp/topology.ts):
 *
 * - the outbound SA has soft and hard byte lifetimes a few pings wide; the inbound SA a soft
 *   time lifetime of 2 s (RFC 4301 §4.4.2.1);
 * - each soft expiry shows in `show ipsec sa` (state `dying`), in the log and in
 *   turtle6_ipsec_sa_soft_expirations_total;
 * - the hard expiry removes the outbound SA (show, log, turtle6_ipsec_sa_hard_expirations_total);
 * - from then on h1's traffic follows the policy's onExpire, observed on the peer's wire:
 *   discard puts nothing on it (no ESP, no cleartext) and counts esp_policy_discard; bypass
 *   puts h1's echo requests on it in the clear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, run, TestBed, type Netns } from '../helpers/netns.js';
import type { RunningRouter } from '../helpers/router.js';
import { BEHIND, GCM, H1, PEER, ROUTER, SPI_IN, SPI_OUT, saYaml } from './scapy-esp/common.js';
import { captureWire, espTopology, startPeer } from './scapy-esp/topology.js';

/** `ping -s 100`: 8 + 100 bytes of ICMPv6 behind a 40-byte header, what an SA counts as payload. */
const PING_SIZE = 100;
const PACKET_BYTES = 40 + 8 + PING_SIZE;
/** Soft after the second echo request, hard after the fourth. */
const SOFT_BYTES = PACKET_BYTES + 1;
const HARD_BYTES = 3 * PACKET_BYTES + 1;

interface SaShown {
  spi: number;
  direction: string;
  state: string;
  bytes: number;
  packets: number;
}

/** GET http://[::1]:9469/metrics from inside the router's namespace. */
function scrape(r: Netns): string {
  return r.runOk(process.execPath, [
    '--input-type=module',
    '-e',
    "const r = await fetch('http://[::1]:9469/metrics'); if (!r.ok) throw new Error(`HTTP ${r.status}`); process.stdout.write(await r.text());",
  ]);
}

function metricValue(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

/** The pino lines turtle6 printed whose message includes `text`. */
function logLines(router: RunningRouter, text: string): Array<Record<string, unknown>> {
  return router.logs().filter((l) => l.msg.includes(text));
}

/**
 * logLines once `count` of them have arrived. pino writes asynchronously, so a line can trail
 * the control reply that already shows what it reports (measured: up to ~90 ms under load).
 */
async function arrivedLogLines(router: RunningRouter, text: string, count: number): Promise<Array<Record<string, unknown>>> {
  await pollUntil(`${count} log line(s) with "${text}"`, () => logLines(router, text).length >= count, 5_000);
  return logLines(router, text);
}

function pingOnce(h1: Netns, count: number): { code: number; out: string } {
  const r = h1.run('ping', ['-6', '-n', '-c', String(count), '-i', '0.2', '-W', '2', '-s', String(PING_SIZE), BEHIND]);
  return { code: r.code, out: r.stdout + r.stderr };
}

async function scenario(onExpire: 'discard' | 'bypass', t: { after: (fn: () => Promise<void>) => void }): Promise<void> {
  const bed = new TestBed(`esplife${onExpire.slice(0, 2)}`);
  t.after(() => bed.cleanup());
  const sas =
    saYaml(GCM, SPI_OUT, 'out', 'tunnel', ROUTER, PEER, GCM.out, `lifetime: { softBytes: ${SOFT_BYTES}, hardBytes: ${HARD_BYTES} }`) +
    saYaml(GCM, SPI_IN, 'in', 'tunnel', PEER, ROUTER, GCM.in, 'lifetime: { softSeconds: 2 }');
  const topology = await espTopology(bed, { lanes: 1, routeBehind: true, metricsListen: '[::1]:9469', ipsec: `ipsec:
  crypto: native
  sas:
${sas}  policies:
    - { direction: out, src: 2001:db8:1::/64, dst: 2001:db8:3::/64, sa: ${SPI_OUT}, onExpire: ${onExpire} }
    - { direction: in, src: 2001:db8:3::/64, dst: 2001:db8:1::/64, sa: ${SPI_IN}, onExpire: ${onExpire} }
` });
  const { r, h1, if1, router } = topology;
  // Everything on the peer's wire but ND, to see what h1's traffic becomes after the expiry.
  const capture = await captureWire(bed, topology, 'ip6 and not (ip6[6] = 58 and ip6[40] >= 133 and ip6[40] <= 137)');
  const peer = await startPeer(bed, topology, 'tunnel', GCM, ['--behind', BEHIND, '--timeout', '90']);
  const shownSas = async () => (await router.ctl(['show', 'ipsec', 'sa'])) as SaShown[];
  const outSa = async () => (await shownSas()).find((s) => s.spi === SPI_OUT);

  // Two echo exchanges under ESP: the outbound SA passes its soft byte lifetime.
  const first = pingOnce(h1, 2);
  assert.equal(first.code, 0, `h1's ping through the tunnel before any expiry:\n${first.out}\npeer:\n${peer.output()}`);
  await pollUntil('the outbound SA to be dying', async () => (await outSa())?.state === 'dying', 5_000);
  assert.equal((await outSa())!.bytes, 2 * PACKET_BYTES);
  // The inbound SA's soft time lifetime (2 s from installation).
  await pollUntil('the inbound SA to be dying by time', async () => (await shownSas()).find((s) => s.spi === SPI_IN)?.state === 'dying', 10_000);
  assert.match(await router.ctlText(['show', 'ipsec', 'sa']), /spi=4096\(0x00001000\) dir=out[\s\S]*state=dying[\s\S]*current: 296\(bytes\)\thard: 445\(bytes\)\tsoft: 149\(bytes\)/);
  const soft = await arrivedLogLines(router, 'soft lifetime', 2);
  assert.deepEqual(soft.map((l) => [l.level, l.spi]).sort(), [[40, '0x00001000'], [40, '0x00002000']], `one warning per SA:\n${JSON.stringify(soft)}`);
  let metrics = scrape(r);
  assert.equal(metricValue(metrics, 'turtle6_ipsec_sa_soft_expirations_total'), 2);
  assert.equal(metricValue(metrics, 'turtle6_ipsec_sa_hard_expirations_total'), 0);
  assert.equal(metricValue(metrics, 'turtle6_ipsec_sas{state="dying"}'), 2, 'both past their soft lifetime, neither rekeyed');
  assert.equal(metricValue(metrics, 'turtle6_ipsec_sas{state="mature"}'), 0);

  // Two more: the hard byte lifetime removes the outbound SA.
  const second = pingOnce(h1, 2);
  assert.equal(second.code, 0, `h1's ping while the SA is dying (still installed):\n${second.out}`);
  await pollUntil('the outbound SA to be removed', async () => (await outSa()) === undefined, 5_000);
  assert.deepEqual((await shownSas()).map((s) => s.spi), [SPI_IN]);
  const hard = await arrivedLogLines(router, 'hard lifetime and is removed', 1);
  assert.equal(hard.length, 1, JSON.stringify(hard));
  assert.equal(hard[0]!.spi, '0x00001000');
  metrics = scrape(r);
  assert.equal(metricValue(metrics, 'turtle6_ipsec_sa_hard_expirations_total'), 1);
  assert.equal(metricValue(metrics, 'turtle6_ipsec_sas{state="dying"}'), 1, 'the inbound SA is left, still dying');
  assert.equal(metricValue(metrics, 'turtle6_ipsec_sas{state="mature"}'), 0);
  const policyText = await router.ctlText(['show', 'ipsec', 'policy']);
  assert.match(policyText, onExpire === 'bypass' ? /spi=4096\(0x00001000\) \(SA not installed: bypass, in the clear\)/ : /spi=4096\(0x00001000\) \(SA not installed: discards\)/);
  await pollUntil('the peer to have decrypted four echo requests', () => peer.events().filter((e) => e.event === 'esp').length === 4, 5_000);

  // After the hard expiry: h1's traffic follows onExpire. The peer answers only ESP, so no
  // echo comes back either way; what differs is what reaches the wire.
  const discardsBefore = await router.counter(if1, 'esp_policy_discard');
  const after = pingOnce(h1, 3);
  assert.notEqual(after.code, 0, 'no answer: the peer answers only under ESP');
  if (onExpire === 'discard') {
    await pollUntil('three discards counted', async () => (await router.counter(if1, 'esp_policy_discard')) - discardsBefore === 3, 5_000);
  } else {
    // What reaches the wire is checked on the capture below (the forwarded counter would not
    // do: a packet that waits for neighbour resolution goes through the control plane).
    assert.equal(await router.counter(if1, 'esp_policy_discard'), discardsBefore);
  }
  peer.stop();
  const done = await peer.finished(10_000);
  assert.deepEqual(done.failures, [], `peer failures:\n${peer.output()}`);
  assert.deepEqual(done.seqs, [1, 2, 3, 4], 'the peer decrypted only the four packets sent under the SA');

  // The wire: four ESP echo requests from the router (and the peer's four replies), then
  // either nothing (discard) or h1's three echo requests in the clear (bypass).
  const expectedRows = 8 + (onExpire === 'bypass' ? 3 : 0);
  await capture.finish(expectedRows);
  const decoded = run('tshark', ['-n', '-r', capture.file, '-T', 'fields', '-e', 'ipv6.src', '-e', 'ipv6.dst', '-e', 'ipv6.nxt', '-e', 'esp.spi', '-e', 'icmpv6.type']);
  assert.equal(decoded.code, 0, decoded.stderr);
  const rows = decoded.stdout.trim().split('\n').map((l) => l.split('\t'));
  const esp = rows.filter((f) => f[2] === '50');
  const clear = rows.filter((f) => f[2] !== '50');
  assert.equal(esp.filter((f) => f[0] === ROUTER).length, 4, `the router's ESP packets:\n${decoded.stdout}`);
  assert.equal(esp.filter((f) => f[0] === PEER).length, 4, `the peer's ESP packets:\n${decoded.stdout}`);
  if (onExpire === 'discard') {
    assert.deepEqual(clear, [], `nothing of h1's in the clear after the expiry:\n${decoded.stdout}`);
  } else {
    assert.deepEqual(clear, Array.from({ length: 3 }, () => [H1, BEHIND, '58', '', '128']), `h1's echo requests in the clear after the expiry:\n${decoded.stdout}`);
  }
}

test('lifetimes end to end, onExpire discard: soft expiries shown, logged and counted; the hard expiry removes the SA; then nothing reaches the wire', (t) =>
  scenario('discard', t));
test('lifetimes end to end, onExpire bypass: the same expiries; after the hard one h1’s traffic crosses the wire in the clear', (t) => scenario('bypass', t));
