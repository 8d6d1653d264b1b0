/** The DHCPv6 server's decisions (RFC 8415 §18.3) on a manual clock, with a real lease journal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIpv6, parseIpv6 } from '../../../src/lib/addr.js';
import { DHCP6_MSG, DHCP6_STATUS, findOption, parseDuid, type Dhcp6ClientMessage, type Dhcp6Option } from '../../../src/wire/dhcpv6.js';
import { LeaseStore, leaseKey } from '../../../src/protocols/dhcpv6/lease-store.js';
import { Dhcp6Server, type ServerLink, type ServerSettings, type ServerVerdict } from '../../../src/protocols/dhcpv6/server.js';

const SERVER_DUID = parseDuid('00:03:00:01:02:00:00:00:00:fe')!;
const CLIENT = '00:01:00:01:00:00:00:01:02:00:00:00:00:01';
const OTHER = '00:03:00:01:02:00:00:00:00:02';

const SETTINGS: ServerSettings = {
  subnets: [],
  interfaces: [
    { name: 'lan0', addressPool: { start: '2001:db8:1::1000', end: '2001:db8:1::1001' }, prefixPool: { prefix: '2001:db8:100::/48', delegatedLength: 56 }, preference: 7, rapidCommit: true, unicast: false },
  ],
  preferredLifetime: 100,
  validLifetime: 200,
  t1: 0,
  t2: 0,
  dnsServers: ['2001:db8:1::53'],
  domains: ['turtle6.test'],
  reservations: [{ duid: OTHER, address: '2001:db8:1::77' }],
};
const LINK: ServerLink = { name: 'lan0', onLink: [{ addr: parseIpv6('2001:db8:1::')!, len: 64 }], unicastAddress: null, peer: { port: 0, address: 'fe80::1' } };

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 't6-d6unit-'));
  let now = 1_000_000;
  const store = new LeaseStore(dir);
  store.open();
  const server = new Dhcp6Server(SETTINGS, SERVER_DUID, store, () => now);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, store, server, advance: (s: number) => (now += s * 1000), now: () => now };
}

function msg(msgType: number, duid: string, options: Dhcp6Option[], withServer = false): Dhcp6ClientMessage {
  return {
    type: 'client',
    msgType,
    transactionId: 0x123456,
    options: [{ kind: 'clientId', duid: parseDuid(duid)! }, ...(withServer ? [{ kind: 'serverId' as const, duid: SERVER_DUID }] : []), ...options],
  };
}

const IAS: Dhcp6Option[] = [
  { kind: 'iaNa', iaid: 1, t1: 0, t2: 0, options: [] },
  { kind: 'iaPd', iaid: 1, t1: 0, t2: 0, options: [] },
  { kind: 'oro', codes: [23, 24] },
];

function reply(v: ServerVerdict): Dhcp6ClientMessage {
  if ('drop' in v) throw new Error(`dropped: ${v.drop}`);
  return v.reply;
}

function leasesOf(m: Dhcp6ClientMessage): { address: string; prefix: string; t1: number; t2: number } {
  const na = findOption(m.options, 'iaNa')!;
  const pd = findOption(m.options, 'iaPd')!;
  const a = findOption(na.options, 'iaAddr');
  const p = findOption(pd.options, 'iaPrefix');
  return { address: a ? formatIpv6(a.address) : '-', prefix: p ? `${formatIpv6(p.prefix)}/${p.prefixLen}` : '-', t1: na.t1, t2: na.t2 };
}

test('Solicit → Advertise (with Preference and DNS), Request → Reply binds the same leases, durably', (t) => {
  const { dir, server } = setup(t);
  const adv = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, IAS), false));
  assert.equal(adv.msgType, DHCP6_MSG.ADVERTISE);
  assert.equal(adv.transactionId, 0x123456);
  assert.equal(findOption(adv.options, 'preference')?.value, 7);
  assert.deepEqual(findOption(adv.options, 'domainList')?.domains, ['turtle6.test']);
  const offered = leasesOf(adv);
  assert.deepEqual(offered, { address: '2001:db8:1::1000', prefix: '2001:db8:100::/56', t1: 50, t2: 80 });
  assert.equal(server.leases().length, 0, 'an Advertise commits nothing');
  const rep = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, CLIENT, IAS, true), false));
  assert.equal(rep.msgType, DHCP6_MSG.REPLY);
  assert.deepEqual(leasesOf(rep), offered);
  // The journal alone brings the leases back (a kill -9 leaves no snapshot behind).
  const reopened = new LeaseStore(dir);
  reopened.open();
  assert.deepEqual([...reopened.all()].map((l) => `${l.kind} ${l.address}/${l.prefixLen} ${l.duid}`).sort(), [
    `na 2001:db8:1::1000/128 ${CLIENT}`,
    `pd 2001:db8:100::/56 ${CLIENT}`,
  ]);
  reopened.close();
});

test('Rapid Commit: a Solicit gets a Reply and binds at once', (t) => {
  const { server } = setup(t);
  const rep = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, [...IAS, { kind: 'rapidCommit' }]), false));
  assert.equal(rep.msgType, DHCP6_MSG.REPLY);
  assert.ok(findOption(rep.options, 'rapidCommit'));
  assert.equal(server.leases().length, 2);
});

test('Renew extends, Release forgets, and a Renew after Release finds NoBinding', (t) => {
  const { server, advance, now } = setup(t);
  reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, CLIENT, IAS, true), false));
  const firstExpiry = server.leases()[0]!.expiresAt;
  advance(60);
  const held = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.RENEW, CLIENT, IAS, true), false));
  assert.equal(leasesOf(held).address, '2001:db8:1::1000');
  assert.equal(server.leases()[0]!.expiresAt, firstExpiry + 60_000);
  assert.equal(server.leases()[0]!.expiresAt, now() + 200_000);
  const rel = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.RELEASE, CLIENT, held.options.filter((o) => o.kind !== 'serverId' && o.kind !== 'clientId'), true), false));
  assert.equal(findOption(rel.options, 'statusCode')?.status, DHCP6_STATUS.SUCCESS);
  assert.equal(server.leases().length, 0);
  const again = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.RENEW, CLIENT, IAS, true), false));
  assert.equal(findOption(findOption(again.options, 'iaNa')!.options, 'statusCode')?.status, DHCP6_STATUS.NO_BINDING);
});

test('a reservation by DUID wins over the pool, and a full pool answers NoAddrsAvail', (t) => {
  const { server } = setup(t);
  const r = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, OTHER, IAS, true), false));
  assert.equal(leasesOf(r).address, '2001:db8:1::77');
  for (const mac of ['aa', 'bb']) reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, `00:03:00:01:02:00:00:00:00:${mac}`, IAS, true), false));
  const full = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, '00:03:00:01:02:00:00:00:00:cc', IAS, true), false));
  assert.equal(findOption(findOption(full.options, 'iaNa')!.options, 'statusCode')?.status, DHCP6_STATUS.NO_ADDRS_AVAIL);
});

test('leases expire after their valid lifetime and their addresses return to the pool', (t) => {
  const { server, advance } = setup(t);
  reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, CLIENT, IAS, true), false));
  advance(199);
  assert.equal(server.expire(), 0);
  advance(1);
  assert.equal(server.expire(), 2);
  assert.deepEqual(server.poolStats().map((p) => p.used), [0, 0]);
});

test('§16 validation: each malformed exchange is dropped with its reason', (t) => {
  const { server } = setup(t);
  const drop = (v: ServerVerdict) => ('drop' in v ? v.drop : 'replied');
  assert.equal(drop(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, IAS, true), false)), 'unexpected-server-id');
  assert.equal(drop(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, CLIENT, IAS), false)), 'wrong-server-id');
  assert.equal(drop(server.handle('lan0', LINK, { type: 'client', msgType: DHCP6_MSG.SOLICIT, transactionId: 1, options: IAS }, false)), 'missing-client-id');
  assert.equal(drop(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, [...IAS, IAS[0]!]), false)), 'duplicate-ia');
  assert.equal(drop(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, IAS), true)), 'unicast-not-allowed');
  assert.equal(drop(server.handle('lan0', LINK, msg(DHCP6_MSG.ADVERTISE, CLIENT, IAS), false)), 'not-for-a-server');
  assert.equal(drop(server.handle('lan9', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, IAS), false)), 'unserved-link');
  // §18.3.2: a unicast Request without the Unicast option gets UseMulticast, not a lease.
  const use = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, CLIENT, IAS, true), true));
  assert.equal(findOption(use.options, 'statusCode')?.status, DHCP6_STATUS.USE_MULTICAST);
  assert.equal(server.leases().length, 0);
});

test('Confirm answers on-link or NotOnLink; Information-request gets the DNS options', (t) => {
  const { server } = setup(t);
  const confirm = (addr: string) =>
    reply(server.handle('lan0', LINK, msg(DHCP6_MSG.CONFIRM, CLIENT, [{ kind: 'iaNa', iaid: 1, t1: 0, t2: 0, options: [{ kind: 'iaAddr', address: parseIpv6(addr)!, preferred: 0, valid: 0, options: [] }] }]), false));
  assert.equal(findOption(confirm('2001:db8:1::1000').options, 'statusCode')?.status, DHCP6_STATUS.SUCCESS);
  assert.equal(findOption(confirm('2001:db8:9::1').options, 'statusCode')?.status, DHCP6_STATUS.NOT_ON_LINK);
  const info = reply(server.handle('lan0', LINK, { type: 'client', msgType: DHCP6_MSG.INFORMATION_REQUEST, transactionId: 9, options: [] }, false));
  assert.deepEqual(findOption(info.options, 'dnsServers')?.servers.map((s) => formatIpv6(s)), ['2001:db8:1::53']);
  assert.equal(findOption(info.options, 'iaNa'), undefined);
});

test('group commit: the journal needs one sync for the leases of many Requests, and none when nothing changed', (t) => {
  const { store, server } = setup(t);
  assert.equal(store.needsSync, false, 'a freshly opened store is durable');
  const rep = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, IAS.concat([{ kind: 'rapidCommit' }])), false));
  assert.equal(rep.msgType, DHCP6_MSG.REPLY);
  const rep2 = reply(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, OTHER, IAS.concat([{ kind: 'rapidCommit' }])), false));
  assert.equal(rep2.msgType, DHCP6_MSG.REPLY);
  assert.equal(store.needsSync, true, 'two bindings written, not yet durable');
  store.sync();
  assert.equal(store.syncs, 1, 'one fdatasync for both');
  assert.equal(store.needsSync, false);
  store.sync();
  assert.equal(store.syncs, 1, 'nothing written, nothing to sync');
  server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, IAS), false);
  assert.equal(store.needsSync, false, 'an Advertise writes nothing');
});

test('the store counts changes to delegated-prefix bindings alone (the module re-syncs its routes on those)', (t) => {
  const { store, server } = setup(t);
  const before = store.prefixGeneration;
  reply(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, CLIENT, [IAS[0]!, { kind: 'rapidCommit' }]), false));
  assert.equal(store.prefixGeneration, before, 'an address binding leaves it alone');
  reply(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, OTHER, [IAS[1]!, { kind: 'rapidCommit' }]), false));
  assert.equal(store.prefixGeneration, before + 1, 'a prefix binding bumps it');
  const pd = server.leases().find((l) => l.kind === 'pd')!;
  store.delete(leaseKey(pd));
  assert.equal(store.prefixGeneration, before + 2, 'so does its removal');
  store.delete(leaseKey(pd));
  assert.equal(store.prefixGeneration, before + 2, 'removing it twice changes nothing');
});

/** The server of SETTINGS with one subnet behind relays, and a served interface whose pool crosses ::9 → ::10. */
function relayedSetup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 't6-d6unit-'));
  const store = new LeaseStore(dir);
  store.open();
  const settings: ServerSettings = {
    ...SETTINGS,
    interfaces: [...SETTINGS.interfaces, { name: 'lan9', addressPool: { start: '2001:db8:9::9', end: '2001:db8:9::10' }, preference: 0, rapidCommit: false, unicast: false }],
    subnets: [{ prefix: '2001:db8:5::/64', addressPool: { start: '2001:db8:5::100', end: '2001:db8:5::1ff' }, prefixPool: { prefix: '2001:db8:500::/48', delegatedLength: 60 }, preference: 0, rapidCommit: false }],
  };
  const server = new Dhcp6Server(settings, SERVER_DUID, store, () => 1_000_000);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { server, store, dir };
}

test('a relay\'s link-address picks the subnet holding it; pool bounds compare as numbers (::9 < ::c < ::10)', (t) => {
  const { server } = relayedSetup(t);
  assert.equal(server.linkOf(parseIpv6('2001:db8:5::1')!), '2001:db8:5::/64');
  assert.equal(server.linkOf(parseIpv6('2001:db8:5:0:ffff::1')!), '2001:db8:5::/64');
  assert.equal(server.linkOf(parseIpv6('2001:db8:6::1')!), null);
  // As text, "2001:db8:9::9" sorts after "2001:db8:9::10" and ::c is outside ::9–::10.
  assert.equal(server.linkOf(parseIpv6('2001:db8:9::9')!), 'lan9');
  assert.equal(server.linkOf(parseIpv6('2001:db8:9::c')!), 'lan9');
  assert.equal(server.linkOf(parseIpv6('2001:db8:9::10')!), 'lan9');
  assert.equal(server.linkOf(parseIpv6('2001:db8:9::11')!), null);
  assert.equal(server.linkOf(parseIpv6('2001:db8:9::8')!), null);
});

test('a relayed client gets its subnet\'s address and prefix; the leases name the subnet and the relay, durably', (t) => {
  const { server, dir } = relayedSetup(t);
  const link: ServerLink = { name: '2001:db8:5::/64', onLink: [{ addr: parseIpv6('2001:db8:5::')!, len: 64 }], unicastAddress: null, peer: null, relay: '2001:db8:8::2' };
  const rep = reply(server.handle(link.name, link, msg(DHCP6_MSG.REQUEST, CLIENT, IAS, true), false));
  assert.deepEqual(leasesOf(rep), { address: '2001:db8:5::100', prefix: '2001:db8:500::/60', t1: 50, t2: 80 });
  const reopened = new LeaseStore(dir);
  reopened.open();
  const leases = [...reopened.all()].map((l) => `${l.kind} ${l.address}/${l.prefixLen} ${l.link} ${l.relay} ${l.via === undefined ? 'no-route' : 'routed'}`).sort();
  reopened.close();
  assert.deepEqual(leases, [
    'na 2001:db8:5::100/128 2001:db8:5::/64 2001:db8:8::2 no-route',
    'pd 2001:db8:500::/60 2001:db8:5::/64 2001:db8:8::2 no-route',
  ]);
  // Confirm on the relayed link: the subnet's prefix is on-link, another is not.
  const confirm = (a: string) => findOption(reply(server.handle(link.name, link, msg(DHCP6_MSG.CONFIRM, CLIENT, [{ kind: 'iaNa', iaid: 1, t1: 0, t2: 0, options: [{ kind: 'iaAddr', address: parseIpv6(a)!, preferred: 0, valid: 0, options: [] }] }]), false)).options, 'statusCode')?.status;
  assert.equal(confirm('2001:db8:5::abc'), DHCP6_STATUS.SUCCESS);
  assert.equal(confirm('2001:db8:1::abc'), DHCP6_STATUS.NOT_ON_LINK);
});
