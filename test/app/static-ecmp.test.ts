/**
 * Static ECMP routes (docs/CONFIG.md, `routes[].nexthops`): the config's next hops reach the
 * RIB as one route with every member, each on its own port, and the FIB makes them a group.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText } from '../../src/config/load.js';
import { formatIpv6, formatPrefix } from '../../src/lib/addr.js';
import { NH_GATEWAY } from '../../src/shm/fib.js';
import { Rib } from '../../src/stack/rib.js';
import { staticRoutes } from '../../src/app/reload-participants.js';

const CONFIG = `
interfaces:
  - name: up0
    addresses: [2001:db8:1::1/64]
  - name: up1
    addresses: [2001:db8:2::1/64]
routes:
  - prefix: 2001:db8:100::/48
    nexthops:
      - { via: 2001:db8:1::2 }
      - { via: 2001:db8:2::2 }
      - { via: "fe80::3", interface: up1 }
  - { prefix: 2001:db8:200::/48, via: 2001:db8:1::2 }
`;

test('a static route with nexthops is one RIB route of every member, and an ECMP group in the FIB', () => {
  const r = loadConfigText(CONFIG, 'c.yaml');
  if (!r.ok) assert.fail(JSON.stringify(r.errors));
  const ports = new Map([['up0', 0], ['up1', 1]]);
  const routes = [...staticRoutes(r.config, (name) => ports.get(name)!)];
  // A global next hop finds its port by the on-link prefix that holds it, member by member.
  assert.deepEqual(routes[0]!.nexthops.map((n) => [n.port, formatIpv6(n.gateway!)]), [[0, '2001:db8:1::2'], [1, '2001:db8:2::2'], [1, 'fe80::3']]);
  assert.equal(routes[1]!.nexthops.length, 1);
  const rib = new Rib();
  for (const route of routes) rib.add(route);
  const fib = rib.compile(() => 1500);
  const nhOf = (text: string) => fib.nexthops[fib.routes.find((x) => formatPrefix({ addr: x.prefix, len: x.len }) === text)!.nexthop]!;
  const group = nhOf('2001:db8:100::/48');
  assert.deepEqual(group.members?.map((m) => { const nh = fib.nexthops[m.nexthop]!; return [nh.kind, nh.port]; }), [[NH_GATEWAY, 0], [NH_GATEWAY, 1], [NH_GATEWAY, 1]]);
  assert.equal(nhOf('2001:db8:200::/48').members, undefined, 'a single via stays a plain next hop');
});
