/**
 * The server's delegated pool (issue 5: the delegated prefix is "offered through the local
 * DHCPv6 server's pools, and withdrawn everywhere on expiry or Release"): addresses from the
 * /64 the router's own client put on the link, capped by the delegation's lifetimes, and
 * taken back (lifetimes 0 at the next Renew or Rebind) when the delegation ends or changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIpv6, parseIpv6 } from '../../../src/lib/addr.js';
import { DHCP6_MSG, DHCP6_STATUS, findOption, parseDuid, type Dhcp6ClientMessage, type Dhcp6Option } from '../../../src/wire/dhcpv6.js';
import { LeaseStore } from '../../../src/protocols/dhcpv6/lease-store.js';
import { Dhcp6Server, type ServerLink, type ServerSettings, type ServerVerdict } from '../../../src/protocols/dhcpv6/server.js';

const SERVER_DUID = parseDuid('00:03:00:01:02:00:00:00:00:fe')!;
const CLIENT = '00:01:00:01:00:00:00:01:02:00:00:00:00:01';
const SECOND = '00:03:00:01:02:00:00:00:00:02';

const SETTINGS: ServerSettings = {
  subnets: [],
  interfaces: [{ name: 'lan0', delegatedPool: { start: '::1000', end: '::1001' }, preference: 0, rapidCommit: false, unicast: false }],
  preferredLifetime: 100,
  validLifetime: 200,
  t1: 0,
  t2: 0,
  dnsServers: [],
  domains: [],
  reservations: [],
};
const LINK: ServerLink = { name: 'lan0', onLink: [], unicastAddress: null, peer: { port: 0, address: 'fe80::1' } };
const FIRST_64 = parseIpv6('2001:db8:500:1::')!;
const OTHER_64 = parseIpv6('2001:db8:600:1::')!;

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 't6-d6deleg-'));
  let now = 5_000_000;
  const store = new LeaseStore(dir);
  store.open();
  const server = new Dhcp6Server(SETTINGS, SERVER_DUID, store, () => now);
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, store, dir, advance: (s: number) => (now += s * 1000) };
}

function msg(msgType: number, duid: string, options: Dhcp6Option[], withServer: boolean): Dhcp6ClientMessage {
  return {
    type: 'client',
    msgType,
    transactionId: 0x4242,
    options: [{ kind: 'clientId', duid: parseDuid(duid)! }, ...(withServer ? [{ kind: 'serverId' as const, duid: SERVER_DUID }] : []), ...options],
  };
}

const IA_NA: Dhcp6Option[] = [{ kind: 'iaNa', iaid: 1, t1: 0, t2: 0, options: [] }];

function holding(address: string): Dhcp6Option[] {
  return [{ kind: 'iaNa', iaid: 1, t1: 0, t2: 0, options: [{ kind: 'iaAddr', address: parseIpv6(address)!, preferred: 0, valid: 0, options: [] }] }];
}

function reply(v: ServerVerdict): Dhcp6ClientMessage {
  if ('drop' in v) throw new Error(`dropped: ${v.drop}`);
  return v.reply;
}

function iaNa(m: Dhcp6ClientMessage) {
  const ia = findOption(m.options, 'iaNa')!;
  const a = findOption(ia.options, 'iaAddr');
  return { t1: ia.t1, t2: ia.t2, address: a ? formatIpv6(a.address) : null, preferred: a?.preferred ?? null, valid: a?.valid ?? null, status: findOption(ia.options, 'statusCode')?.status ?? null };
}

function request(server: Dhcp6Server, duid: string) {
  return iaNa(reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REQUEST, duid, IA_NA, true), false)));
}

test('without a delegation the pool is empty: NoAddrsAvail, and its series reads 0', (t) => {
  const { server } = setup(t);
  assert.deepEqual(server.poolStats(), [{ pool: 'lan0/delegated', kind: 'na', size: 0n, used: 0 }]);
  assert.deepEqual(server.delegations(), [{ link: 'lan0', prefix: null }]);
  const got = request(server, CLIENT);
  assert.equal(got.address, null);
  assert.equal(got.status, DHCP6_STATUS.NO_ADDRS_AVAIL);
});

test('a delegated /64 becomes the pool; lifetimes and T1/T2 are capped by the delegation', (t) => {
  const { server } = setup(t);
  // Only the /64 part counts: the client hands over the router's own address in it.
  assert.deepEqual(server.setDelegatedPrefix('lan0', { prefix: parseIpv6('2001:db8:500:1::1')!, preferred: 50, valid: 80 }), []);
  assert.deepEqual(server.delegations(), [{ link: 'lan0', prefix: '2001:db8:500:1::/64' }]);
  assert.deepEqual(request(server, CLIENT), { t1: 25, t2: 40, address: '2001:db8:500:1::1000', preferred: 50, valid: 80, status: null });
  assert.deepEqual(server.poolStats(), [{ pool: 'lan0/delegated', kind: 'na', size: 2n, used: 1 }]);
  // A long delegation leaves the server's own lifetimes alone.
  server.setDelegatedPrefix('lan0', { prefix: FIRST_64, preferred: 0xffffffff, valid: 0xffffffff });
  assert.deepEqual(request(server, SECOND), { t1: 50, t2: 80, address: '2001:db8:500:1::1001', preferred: 100, valid: 200, status: null });
});

test('a renewed delegation keeps the bindings and lifts the cap at the next Renew', (t) => {
  const { server, advance } = setup(t);
  server.setDelegatedPrefix('lan0', { prefix: FIRST_64, preferred: 30, valid: 60 });
  assert.equal(request(server, CLIENT).valid, 60);
  advance(20);
  assert.deepEqual(server.setDelegatedPrefix('lan0', { prefix: FIRST_64, preferred: 300, valid: 600 }), []);
  const renewed = iaNa(reply(server.handle('lan0', LINK, msg(DHCP6_MSG.RENEW, CLIENT, holding('2001:db8:500:1::1000'), true), false)));
  assert.deepEqual(renewed, { t1: 50, t2: 80, address: '2001:db8:500:1::1000', preferred: 100, valid: 200, status: null });
});

test('a withdrawn delegation ends its bindings: Renew and Rebind get the address back with lifetimes 0', (t) => {
  const { server, store } = setup(t);
  server.setDelegatedPrefix('lan0', { prefix: FIRST_64, preferred: 500, valid: 1000 });
  request(server, CLIENT);
  request(server, SECOND);
  const ended = server.setDelegatedPrefix('lan0', null);
  assert.deepEqual(ended.map((l) => [l.duid, l.address]).sort(), [[CLIENT, '2001:db8:500:1::1000'], [SECOND, '2001:db8:500:1::1001']].sort());
  assert.equal(store.size, 0, 'the ended bindings are gone from the durable store');
  assert.deepEqual(server.poolStats(), [{ pool: 'lan0/delegated', kind: 'na', size: 0n, used: 0 }]);
  const renew = iaNa(reply(server.handle('lan0', LINK, msg(DHCP6_MSG.RENEW, CLIENT, holding('2001:db8:500:1::1000'), true), false)));
  assert.equal(renew.address, '2001:db8:500:1::1000');
  assert.deepEqual([renew.preferred, renew.valid], [0, 0]);
  const rebind = iaNa(reply(server.handle('lan0', LINK, msg(DHCP6_MSG.REBIND, SECOND, holding('2001:db8:500:1::1001'), false), false)));
  assert.deepEqual([rebind.address, rebind.preferred, rebind.valid], ['2001:db8:500:1::1001', 0, 0]);
  assert.equal(server.leases().length, 0, 'a Rebind does not bring back an address from a withdrawn pool');
});

test('a different /64 replaces the pool: old bindings and offers end, new clients get the new prefix', (t) => {
  const { server } = setup(t);
  server.setDelegatedPrefix('lan0', { prefix: FIRST_64, preferred: 500, valid: 1000 });
  request(server, CLIENT);
  // An Advertise holds an address for SECOND; the change must not let its Request take it.
  const adv = iaNa(reply(server.handle('lan0', LINK, msg(DHCP6_MSG.SOLICIT, SECOND, IA_NA, false), false)));
  assert.equal(adv.address, '2001:db8:500:1::1001');
  const ended = server.setDelegatedPrefix('lan0', { prefix: OTHER_64, preferred: 500, valid: 1000 });
  assert.deepEqual(ended.map((l) => l.address), ['2001:db8:500:1::1000']);
  assert.equal(request(server, SECOND).address?.startsWith('2001:db8:600:1::'), true);
  const renew = iaNa(reply(server.handle('lan0', LINK, msg(DHCP6_MSG.RENEW, CLIENT, holding('2001:db8:500:1::1000'), true), false)));
  assert.deepEqual([renew.preferred, renew.valid], [0, 0]);
  assert.equal(server.leases().length, 1, 'only SECOND\'s new lease is left');
  assert.ok(server.leases().every((l) => l.address.startsWith('2001:db8:600:1::')));
});
