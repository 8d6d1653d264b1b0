import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, formatPrefix } from '../../src/lib/addr.js';
import { InterfaceTable, tunLinkLocal, type InterfaceAddress } from '../../src/stack/interfaces.js';
import { ip, mac } from './fixtures.js';

test('a TAP port gets its modified EUI-64 link-local address (RFC 4291 App. A), tentative by default', () => {
  const ifaces = new InterfaceTable();
  const lan = ifaces.add({ name: 'lan0', port: 5, kind: 'tap', mac: mac('00:16:3e:12:34:56') });
  assert.equal(formatIpv6(lan.linkLocal()), 'fe80::216:3eff:fe12:3456');
  assert.deepEqual(lan.addresses.map((a) => [a.prefixLen, a.state, a.origin]), [[64, 'tentative', 'link-local']]);
  assert.equal(lan.hasAddress(lan.linkLocal()), false, 'a tentative address is not assigned (RFC 4862 §5.4)');
  assert.deepEqual([lan.port, lan.kind, lan.mtu, lan.up], [5, 'tap', 1500, true]);
  assert.equal(ifaces.byName('lan0'), lan);
  assert.equal(ifaces.byPort(5), lan);
  assert.deepEqual(ifaces.all(), [lan]);
});

test('a TUN port gets a stable link-local address derived from its name, local-scope IID', () => {
  const a = new InterfaceTable().add({ name: 'tun7', port: 0, kind: 'tun' });
  const again = new InterfaceTable().add({ name: 'tun7', port: 9, kind: 'tun' });
  const other = new InterfaceTable().add({ name: 'tun8', port: 0, kind: 'tun' });
  assert.deepEqual(a.linkLocal(), again.linkLocal());
  assert.notDeepEqual(a.linkLocal(), other.linkLocal());
  assert.deepEqual(a.linkLocal(), tunLinkLocal('tun7'));
  assert.deepEqual([...a.linkLocal().subarray(0, 8)], [0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
  assert.equal(a.linkLocal()[8]! & 0x02, 0);
  assert.equal(a.mac, null);
});

test('ports, names and MACs are checked', () => {
  const ifaces = new InterfaceTable();
  ifaces.add({ name: 'a', port: 0, kind: 'tun' });
  assert.throws(() => ifaces.add({ name: 'b', port: 0, kind: 'tun' }), /port 0 is already used/);
  assert.throws(() => ifaces.add({ name: 'a', port: 1, kind: 'tun' }), /already exists/);
  assert.throws(() => ifaces.add({ name: 'c', port: 64, kind: 'tun' }), /outside 0..63/);
  assert.throws(() => ifaces.add({ name: 'd', port: 2, kind: 'tap' }), /6-byte MAC/);
  assert.throws(() => ifaces.add({ name: 'e', port: 3, kind: 'tun', mtu: 1000 }), /below 1280/);
  assert.throws(() => ifaces.addAddress(7, ip('2001:db8::1'), 64, 'config'), /no interface on port 7/);
});

test('address and link events reach subscribers until they unsubscribe', () => {
  const ifaces = new InterfaceTable();
  const seen: string[] = [];
  const note = (what: string) => (_i: unknown, a: InterfaceAddress) => seen.push(`${what} ${formatIpv6(a.addr)} ${a.state}`);
  const offAdded = ifaces.on('address-added', note('added'));
  ifaces.on('address-removed', note('removed'));
  ifaces.on('address-state', note('state'));
  ifaces.on('link-down', (i) => seen.push(`down ${i.name}`));
  ifaces.on('link-up', (i) => seen.push(`up ${i.name}`));
  ifaces.add({ name: 't', port: 0, kind: 'tap', mac: mac('02:00:00:00:00:01') });
  ifaces.addAddress(0, ip('2001:db8::1'), 64, 'config');
  ifaces.setAddressState(0, ip('2001:db8::1'), 'preferred');
  ifaces.setAddressState(0, ip('2001:db8::1'), 'preferred');
  ifaces.setLinkUp(0, false);
  ifaces.setLinkUp(0, false);
  ifaces.setLinkUp(0, true);
  offAdded();
  ifaces.addAddress(0, ip('2001:db8::2'), 64, 'config');
  assert.equal(ifaces.removeAddress(0, ip('2001:db8::1')), true);
  assert.equal(ifaces.removeAddress(0, ifaces.byPort(0)!.linkLocal()), false, 'the link-local address stays');
  assert.deepEqual(seen, [
    'added fe80::ff:fe00:1 tentative',
    'added 2001:db8::1 tentative',
    'state 2001:db8::1 preferred',
    'down t',
    'up t',
    'removed 2001:db8::1 preferred',
  ]);
  assert.throws(() => ifaces.addAddress(0, ip('2001:db8::2'), 64, 'config'), /already assigned/);
});

test('source selection, global address and on-link prefixes use preferred addresses only', () => {
  const ifaces = new InterfaceTable();
  const lan = ifaces.add({ name: 'lan', port: 0, kind: 'tap', mac: mac('02:00:00:00:00:01'), linkLocalState: 'preferred' });
  assert.equal(lan.globalAddress(), null);
  assert.deepEqual(lan.sourceAddressFor(ip('2001:db8:1::9')), lan.linkLocal());
  ifaces.addAddress(0, ip('2001:db8:1::1'), 64, 'config', 'preferred');
  ifaces.addAddress(0, ip('2001:db8:1::5'), 64, 'slaac', 'preferred');
  ifaces.addAddress(0, ip('2001:db8:2::1'), 64, 'config', 'preferred');
  ifaces.addAddress(0, ip('2001:db8:3::1'), 64, 'config', 'tentative');
  ifaces.addAddress(0, ip('2001:db8:4::1'), 128, 'dhcpv6', 'preferred');
  assert.equal(formatIpv6(lan.globalAddress()!), '2001:db8:1::1');
  assert.equal(formatIpv6(lan.sourceAddressFor(ip('2001:db8:2::9'))), '2001:db8:2::1');
  assert.equal(formatIpv6(lan.sourceAddressFor(ip('2001:db8:3::9'))), '2001:db8:1::1', 'not the tentative one');
  assert.equal(formatIpv6(lan.sourceAddressFor(ip('2001:db9::9'))), '2001:db8:1::1');
  assert.deepEqual(lan.sourceAddressFor(ip('fe80::9')), lan.linkLocal());
  assert.deepEqual(lan.onLinkPrefixes().map(formatPrefix), ['2001:db8:1::/64', '2001:db8:2::/64']);
  assert.equal(lan.hasAddress(ip('2001:db8:3::1')), false);
  assert.equal(lan.hasAddress(ip('2001:db8:4::1')), true);
});
