/**
 * The group filter the stack publishes for the lanes (shm/groups.ts): every group it listens
 * to, per port, following addresses and module joins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, linkLocalFromMac, solicitedNodeMulticast } from '../../src/lib/addr.js';
import { ManualClock } from '../../src/lib/clock.js';
import { SeededRng } from '../../src/lib/rng.js';
import { Stack } from '../../src/stack/stack.js';
import { FakeDatapath } from './fake-datapath.js';
import { ROUTER_GLOBAL, ROUTER_MAC, ip, mac } from './fixtures.js';

function setup() {
  const datapath = new FakeDatapath();
  const stack = new Stack({ clock: new ManualClock(0), rng: new SeededRng(1), datapath, log: { info() {}, warn() {}, debug() {} } });
  stack.addInterface({ name: 'lan0', port: 0, kind: 'tap', mac: ROUTER_MAC, mtu: 1500, addresses: [{ addr: ROUTER_GLOBAL, prefixLen: 64 }], ra: null });
  stack.addInterface({ name: 'lan1', port: 1, kind: 'tap', mac: mac('02:00:00:00:00:09'), mtu: 1500, addresses: [], ra: null });
  stack.publishTables();
  return { datapath, stack };
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The last published filter, as sorted "port group" lines. */
function lastFilter(datapath: FakeDatapath): string[] {
  return datapath.groupTables.at(-1)!.map((e) => `${e.port} ${formatIpv6(e.group)}`).sort();
}

test('the filter lists all-nodes, all-routers and the solicited-node groups of each port\'s addresses (and Subnet-Router anycast)', async () => {
  const { datapath } = setup();
  await settle();
  const sn = (a: Uint8Array) => formatIpv6(solicitedNodeMulticast(a));
  assert.deepEqual(
    lastFilter(datapath),
    [
      '0 ff02::1',
      '0 ff02::2',
      `0 ${sn(linkLocalFromMac(ROUTER_MAC))}`,
      `0 ${sn(ROUTER_GLOBAL)}`,
      // The Subnet-Router anycast address of 2001:db8:1::/64 (RFC 4291 §2.6.1).
      `0 ${sn(ip('2001:db8:1::'))}`,
      '1 ff02::1',
      '1 ff02::2',
      `1 ${sn(linkLocalFromMac(mac('02:00:00:00:00:09')))}`,
    ].sort(),
  );
});

test('a module\'s join republishes the filter with the group on its port; the last leave takes it out', async () => {
  const { datapath, stack } = setup();
  const api = stack.api('static');
  await settle();
  const before = datapath.groupTables.length;
  api.joinGroup(1, ip('ff02::9'));
  api.joinGroup(1, ip('ff02::9'));
  await settle();
  assert.equal(datapath.groupTables.length, before + 1, 'joins in one turn coalesce into one publish');
  assert.ok(lastFilter(datapath).includes('1 ff02::9'));
  assert.ok(!lastFilter(datapath).includes('0 ff02::9'));
  api.leaveGroup(1, ip('ff02::9'));
  await settle();
  assert.ok(lastFilter(datapath).includes('1 ff02::9'), 'still joined once');
  api.leaveGroup(1, ip('ff02::9'));
  await settle();
  assert.ok(!lastFilter(datapath).includes('1 ff02::9'));
});

test('an address added to a port adds its solicited-node group', async () => {
  const { datapath, stack } = setup();
  const added = ip('2001:db8:5::42');
  stack.updateInterface(1, { addresses: [{ addr: added, prefixLen: 64 }], mtu: 1500, ra: null });
  await settle();
  assert.ok(lastFilter(datapath).includes(`1 ${formatIpv6(solicitedNodeMulticast(added))}`));
});
