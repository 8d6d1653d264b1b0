/**
 * Router Discovery and SLAAC end to end: kernel hosts configure themselves from turtle6's
 * Router Advertisements (RFC 4861 §6.2, RFC 4862 §5.5.3, RFC 8106), and a Router
 * Solicitation is answered promptly (RFC 4861 §6.2.6).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { formatIpv6, formatMac, linkLocalFromMac, parseIpv6, parseMac } from '../../src/lib/addr.js';
import { pollUntil, requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, waitForSlaac, type RunningRouter } from '../helpers/router.js';
import { twoHosts } from './topology.js';

requireCommand('rdisc6', 'ndisc6');
requireCommand('tcpdump', 'tcpdump');

/** The MAC of `ifname` as the kernel host in `ns` sees it. */
function hostMac(ns: Netns, ifname: string): Uint8Array {
  const [link] = JSON.parse(ns.runOk('ip', ['-j', 'link', 'show', 'dev', ifname])) as Array<{ address: string }>;
  return parseMac(link!.address)!;
}

/** The router port's MAC, from `show interfaces --json`. */
async function routerMac(router: RunningRouter, ifname: string): Promise<Uint8Array> {
  const ifaces = (await router.ctl(['show', 'interfaces'])) as Array<{ name: string; mac: string | null }>;
  const mac = ifaces.find((i) => i.name === ifname)?.mac;
  assert.ok(mac, `show interfaces has no MAC for ${ifname}`);
  return parseMac(mac)!;
}

test('hosts form EUI-64 addresses from the advertised prefix; rdisc6 shows every RA option', async (t) => {
  const bed = new TestBed('slaac');
  t.after(() => bed.cleanup());
  const { h1, h2, if1, if2, a1, a2, router } = await twoHosts(bed, { rdnss: true });

  // RFC 4862 §5.5.3(d) with RFC 4291 Appendix A: prefix ‖ modified EUI-64 of the host's MAC.
  for (const [ns, ifname, address, prefix] of [
    [h1, if1, a1, '2001:db8:1::'],
    [h2, if2, a2, '2001:db8:2::'],
  ] as const) {
    const bytes = parseIpv6(address)!;
    assert.equal(formatIpv6(Uint8Array.from([...bytes.subarray(0, 8), ...new Uint8Array(8)])), prefix, `${address} is not in ${prefix}/64`);
    const eui64 = linkLocalFromMac(hostMac(ns, ifname)).subarray(8);
    assert.deepEqual(bytes.subarray(8), eui64, `${address} is not EUI-64 from ${formatMac(hostMac(ns, ifname))}`);
    // The lifetimes the kernel runs on are the advertised ones (defaults 30 d / 7 d, RFC 4861 §6.2.1).
    const [info] = JSON.parse(ns.runOk('ip', ['-j', '-6', 'addr', 'show', 'dev', ifname, 'scope', 'global'])) as Array<{
      addr_info: Array<{ local: string; valid_life_time: number; preferred_life_time: number; dynamic?: boolean }>;
    }>;
    const entry = info!.addr_info.find((a) => a.local === address)!;
    assert.ok(entry.dynamic, `${address} is not a dynamic (autoconfigured) address`);
    assert.ok(entry.valid_life_time > 2_592_000 - 120 && entry.valid_life_time <= 2_592_000, `valid lifetime ${entry.valid_life_time}`);
    assert.ok(entry.preferred_life_time > 604_800 - 120 && entry.preferred_life_time <= 604_800, `preferred lifetime ${entry.preferred_life_time}`);
  }

  // rdisc6 solicits and prints the RA it receives. Periodic RAs come every 3–4 s here
  // (maxInterval 4), so allow two 4-second tries.
  const rdisc = h1.run('rdisc6', ['-1', '-r', '2', '-w', '4000', if1]);
  const out = rdisc.stdout + rdisc.stderr;
  assert.equal(rdisc.code, 0, out);
  const field = (label: string): string => {
    const m = new RegExp(`^\\s*${label.replace(/[.()]/g, '\\$&')}\\s*:\\s*(.+)$`, 'm').exec(out);
    assert.ok(m, `rdisc6 printed no "${label}":\n${out}`);
    return m[1]!.trim();
  };
  assert.equal(field('Hop limit').split(/\s+/)[0], '64');
  assert.equal(field('Stateful address conf.'), 'No');
  assert.equal(field('Stateful other conf.'), 'No');
  // AdvDefaultLifetime defaults to 3 × MaxRtrAdvInterval (RFC 4861 §6.2.1): 12 s here.
  assert.match(field('Router lifetime'), /^12 /);
  assert.equal(field('Prefix'), '2001:db8:1::/64');
  assert.equal(field('On-link'), 'Yes');
  assert.equal(field('Autonomous address conf.'), 'Yes');
  assert.match(field('Valid time'), /^2592000 /);
  assert.match(field('Pref. time'), /^604800 /);
  assert.match(field('MTU'), /^1500 bytes/);
  assert.equal(field('Recursive DNS server'), '2001:db8:1::53');
  assert.match(field('DNS server lifetime'), /^600 /);
  assert.equal(field('DNS search list'), 'lab.example');
  assert.match(field('DNS search list lifetime'), /^600 /);
  // The RA comes from the port's link-local address and names its MAC (RFC 4861 §6.1.2, §4.2).
  const mac = await routerMac(router, if1);
  assert.equal(field('Source link-layer address').toLowerCase(), formatMac(mac));
  assert.match(out, new RegExp(`from ${formatIpv6(linkLocalFromMac(mac))}`));
});

/** Seconds since the epoch of each captured RS and RA, from `tcpdump -tt` lines. */
function ndEvents(capture: string): Array<{ at: number; kind: 'rs' | 'ra' }> {
  const events: Array<{ at: number; kind: 'rs' | 'ra' }> = [];
  for (const line of capture.split('\n')) {
    const m = /^(\d+\.\d+) .*ICMP6, router (solicitation|advertisement)/.exec(line);
    if (m) events.push({ at: Number(m[1]), kind: m[2] === 'solicitation' ? 'rs' : 'ra' });
  }
  return events;
}

test('a Router Solicitation is answered at once, not at the next periodic RA (RFC 4861 §6.2.6)', async (t) => {
  const bed = new TestBed('rs');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h = bed.netns('h');
  const port = shortName('t6s');
  // The default MaxRtrAdvInterval (600 s) keeps unsolicited RAs rare, so the RA that answers
  // the solicitation below is the solicited one, not a periodic one that happened to pass by.
  const router = await startRouter(
    bed,
    r,
    `
interfaces:
  - name: ${port}
    kind: tap
    addresses: [2001:db8:7::1/64]
    netns: ${h.name}
    ra: {}
dataplane: { lanes: 1, hostInterface: false }
metrics: { listen: "" }
`,
  );
  await waitForSlaac(h, port, '2001:db8:7:');

  const capture: ChildProcess = bed.spawnIn(h, 'tcpdump', ['-i', port, '-n', '-l', '-tt', '-U', '--immediate-mode', 'icmp6 and (ip6[40] == 133 or ip6[40] == 134)']);
  let captured = '';
  let listening = false;
  capture.stdout?.on('data', (d: Buffer) => (captured += d.toString()));
  capture.stderr?.on('data', (d: Buffer) => (listening ||= d.toString().includes('listening on')));
  await pollUntil('tcpdump to listen', () => listening);
  const listenedAt = Date.now() / 1000;

  // §6.2.6: within MIN_DELAY_BETWEEN_RAS (3 s) of a multicast RA, the answer to an RS may be
  // held back until those 3 s are over. So the RS goes out on a quiet link, where the answer
  // is due at once (after at most MAX_RA_DELAY_TIME, 0.5 s). The test waits for 3.2 s without
  // an RA in the capture, but on a loaded machine tcpdump's line can reach this process late:
  // an attempt whose RS the capture itself shows within 3 s of an RA proves nothing either way
  // and is repeated, a bounded number of times.
  const ATTEMPTS = 3;
  let measured: { rs: number; answer: number } | null = null;
  for (let attempt = 1; attempt <= ATTEMPTS && measured === null; attempt++) {
    const attemptAt = Math.max(listenedAt, ...ndEvents(captured).map((e) => e.at));
    await pollUntil(
      'a link quiet for 3 s (no RA since the capture started)',
      () => {
        const lastRa = Math.max(attemptAt, ...ndEvents(captured).filter((e) => e.kind === 'ra').map((e) => e.at));
        return Date.now() / 1000 - lastRa > 3.2;
      },
      40_000,
      100,
    );
    const rasBefore = ndEvents(captured).filter((e) => e.kind === 'ra').length;

    // One RS. rdisc6 waits 4 s, past MIN_DELAY_BETWEEN_RAS + MAX_RA_DELAY_TIME, so that even
    // an answer the RFC lets the router hold back arrives; the capture then tells the cases
    // apart. With MaxRtrAdvInterval at 600 s, an RA within those seconds answers this RS.
    const rdisc = h.run('rdisc6', ['-1', '-r', '1', '-w', '4000', port]);
    assert.equal(rdisc.code, 0, `no RA answered the RS:\n${rdisc.stdout}${rdisc.stderr}\n${router.output().slice(-2000)}`);
    assert.match(rdisc.stdout, /Prefix\s*:\s*2001:db8:7::\/64/);

    // The capture agrees: an RS, then an RA.
    await pollUntil('the capture to show the RS and its answer', () => ndEvents(captured).filter((e) => e.kind === 'ra').length > rasBefore, 5000);
    const events = ndEvents(captured);
    const rs = events.filter((e) => e.kind === 'rs' && e.at > attemptAt).at(-1);
    assert.ok(rs, `tcpdump saw no RS:\n${captured}`);
    const answer = events.find((e) => e.kind === 'ra' && e.at >= rs.at);
    assert.ok(answer, `tcpdump saw no RA after the RS:\n${captured}`);
    const raBefore = events.filter((e) => e.kind === 'ra' && e.at < rs.at).at(-1);
    if (raBefore !== undefined && rs.at - raBefore.at < 3) continue;
    measured = { rs: rs.at, answer: answer.at };
  }
  assert.ok(measured !== null, `in ${ATTEMPTS} attempts, every RS followed an RA by less than 3 s:\n${captured}`);
  assert.ok(measured.answer - measured.rs < 3, `RA came ${(measured.answer - measured.rs).toFixed(3)} s after an RS on a quiet link`);
});
