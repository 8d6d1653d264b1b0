import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { formatConfigError, loadConfigFile, loadConfigText, type LoadResult } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { derivedMac } from '../../src/config/sections/interfaces.js';
import { SECTIONS } from '../../src/config/sections/index.js';
import { parseListen, formatListen } from '../../src/config/listen.js';

const root = resolve(import.meta.dirname, '../../..');

function ok(r: LoadResult): Config {
  if (!r.ok) assert.fail(r.errors.map(formatConfigError).join('\n'));
  return r.config;
}

function errorsOf(text: string): string[] {
  const r = loadConfigText(text, 'c.yaml');
  assert.equal(r.ok, false, 'expected the config to be rejected');
  return r.ok ? [] : r.errors.map(formatConfigError);
}

test('examples/two-hosts.yaml resolves to the documented defaults', () => {
  const c = ok(loadConfigFile(join(root, 'examples/two-hosts.yaml')));
  assert.equal(c.interfaces.length, 2);
  const [lan0, lan1] = c.interfaces;
  assert.deepEqual(
    [lan0!.name, lan0!.kind, lan0!.mtu, lan0!.netns, lan0!.attach, lan0!.addresses],
    ['lan0', 'tap', 1500, 't6-h1', null, ['2001:db8:1::1/64']],
  );
  assert.equal(lan1!.netns, 't6-h2');
  assert.equal(lan0!.mac, derivedMac('lan0'));
  assert.deepEqual(lan0!.ra, {
    enabled: true,
    accept: false,
    maxInterval: 600,
    minInterval: 198,
    defaultLifetime: 1800,
    hopLimit: 64,
    managed: false,
    other: false,
    mtu: true,
    reachableTime: 0,
    retransTimer: 0,
    prefixes: [{ prefix: '2001:db8:1::/64', onLink: true, autonomous: true, validLifetime: 2592000, preferredLifetime: 604800 }],
    preference: 'medium',
    routes: [],
    rdnss: { servers: ['2001:db8:1::1'], lifetime: 1800 },
    dnssl: null,
  });
  assert.deepEqual(lan1!.ra.rdnss, { servers: ['2001:db8:2::1'], lifetime: 1800 });
  assert.deepEqual(c.routes, []);
  assert.deepEqual(c.dataplane, {
    lanes: 1, batch: 64, io: 'auto', poolSlots: 4096, hostInterface: true, icmpErrors: { rate: 100, burst: 20 },
    puntPolicing: { resolve: { rate: 500, burst: 100 }, nd: { rate: 1000, burst: 200 }, multicast: { rate: 2000, burst: 2000 }, local: { rate: 5000, burst: 1000 } },
  });
  assert.deepEqual(c.metrics, { listen: '[::1]:9469' });
  assert.deepEqual(c.log, { level: 'info', ratePerKind: 10 });
  assert.deepEqual(c.control, { socket: '/run/turtle6/turtle6.sock' });
  assert.equal(c.stateDir, '/var/lib/turtle6');
});

test('derived MACs are stable, locally administered unicast, and differ per name', () => {
  assert.equal(derivedMac('lan0'), derivedMac('lan0'));
  assert.notEqual(derivedMac('lan0'), derivedMac('lan1'));
  assert.match(derivedMac('lan0'), /^02(:[0-9a-f]{2}){5}$/);
});

test('the link-local address is EUI-64 from the MAC unless one is configured', () => {
  const c = ok(loadConfigText('interfaces:\n  - name: a\n    mac: "02:00:5e:00:53:01"\n  - name: b\n    addresses: [fe80::b/64]\n', 'c.yaml'));
  assert.equal(c.interfaces[0]!.linkLocal, 'fe80::5eff:fe00:5301');
  assert.equal(c.interfaces[1]!.linkLocal, 'fe80::b');
});

test('addresses are normalised to RFC 5952 text and RA defaults follow them', () => {
  const c = ok(loadConfigText('interfaces:\n  - name: a\n    addresses: ["2001:0DB8:0:0:0:0:0:0001/64", 2001:db8:0:0:1::9/64]\n', 'c.yaml'));
  const a = c.interfaces[0]!;
  assert.deepEqual(a.addresses, ['2001:db8::1/64', '2001:db8::1:0:0:9/64']);
  // Both addresses share one /64, so one prefix is advertised.
  assert.deepEqual(a.ra.prefixes.map((p) => p.prefix), ['2001:db8::/64']);
});

test('ra.preference and ra.routes (RFC 4191): defaults, route lifetime 3 × maxInterval, bad values named', () => {
  const ra = ok(loadConfigText('interfaces:\n  - name: a\n    addresses: [2001:db8::1/64]\n    ra: { maxInterval: 10, preference: high, routes: [{ prefix: 2001:db8:f::/48 }, { prefix: "::/0", lifetime: 0, preference: low }] }\n', 'c.yaml')).interfaces[0]!.ra;
  assert.equal(ra.preference, 'high');
  assert.deepEqual(ra.routes, [
    { prefix: '2001:db8:f::/48', lifetime: 30, preference: 'medium' },
    { prefix: '::/0', lifetime: 0, preference: 'low' },
  ]);
  assert.match(errorsOf('interfaces:\n  - name: a\n    ra: { preference: top }\n').join('\n'), /ra\.preference.*high, medium or low/);
  assert.match(errorsOf('interfaces:\n  - name: a\n    ra: { routes: [{ prefix: 2001:db8:f::1/48 }] }\n').join('\n'), /ra\.routes\[0\]\.prefix: expected an IPv6 prefix with no bits set past \/48/);
});

test('RA is off by default without a global address, and on a tun port', () => {
  const c = ok(loadConfigText('interfaces:\n  - name: a\n  - name: t\n    kind: tun\n    addresses: [2001:db8::1/64]\n', 'c.yaml'));
  assert.equal(c.interfaces[0]!.ra.enabled, false);
  assert.equal(c.interfaces[1]!.ra.enabled, false);
  assert.equal(c.interfaces[1]!.mac, null);
});

test('MinRtrAdvInterval defaults to 0.33 × Max, or 0.75 × Max below 9 s (RFC 4861 §6.2.1)', () => {
  const at = (max: number) => ok(loadConfigText(`interfaces:\n  - name: a\n    ra: { maxInterval: ${max} }\n`, 'c.yaml')).interfaces[0]!.ra;
  assert.equal(at(600).minInterval, 198);
  assert.equal(at(4).minInterval, 3);
  assert.equal(at(8).minInterval, 6);
  assert.equal(at(8).defaultLifetime, 24);
  // Boundaries the RFC allows are accepted.
  ok(loadConfigText('interfaces:\n  - name: a\n    ra: { maxInterval: 1800, minInterval: 1350, defaultLifetime: 9000 }\n', 'c.yaml'));
  ok(loadConfigText('interfaces:\n  - name: a\n    ra: { maxInterval: 4, minInterval: 3, defaultLifetime: 0 }\n', 'c.yaml'));
});

test('ra.accept makes an upstream port: it does not advertise, even with addresses, and refuses enabled: true (RFC 7084 §4.1)', () => {
  const wan = ok(loadConfigText('interfaces:\n  - name: wan\n    addresses: [2001:db8:9::2/64]\n    ra: { accept: true }\n', 'c.yaml')).interfaces[0]!.ra;
  assert.deepEqual([wan.accept, wan.enabled], [true, false]);
  const errors = errorsOf('interfaces:\n  - name: wan\n    ra: { accept: true, enabled: true }\n');
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /interfaces\[0\]\.ra\.enabled: .*an upstream port learns RAs and does not advertise/);
});

test('tap and tun MTUs go up to 9000 (jumbo frames: the pool slots grow to hold them)', () => {
  ok(loadConfigText('interfaces:\n  - name: a\n    mtu: 9000\n  - name: t\n    kind: tun\n    mtu: 9000\n', 'c.yaml'));
  assert.deepEqual(errorsOf('interfaces:\n  - name: t\n    kind: tun\n    mtu: 9001\n  - name: a\n    mtu: 9001\n'), [
    'c.yaml:4:10: interfaces[0].mtu: expected an integer from 1280 to 9000, found 9001',
    'c.yaml:6:10: interfaces[1].mtu: expected an integer from 1280 to 9000, found 9001',
  ]);
});

test('a pool of jumbo slots larger than 1 GiB per lane is refused with the slot count that fits', () => {
  ok(loadConfigText('interfaces:\n  - name: a\ndataplane:\n  poolSlots: 262144\n', 'c.yaml'));
  const errors = errorsOf('interfaces:\n  - name: a\n    mtu: 9000\ndataplane:\n  poolSlots: 262144\n');
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0]!, /^c\.yaml:5:14: dataplane\.poolSlots: expected at most 117\d\d\d slots with an MTU of 9000 \(slots of 9152 bytes; a lane's pool is at most 1 GiB\)/);
});

test('all errors of a file are reported, in file order', () => {
  assert.deepEqual(errorsOf('dataplane:\n  lanes: 0\n  io: dpdk\ninterfaces:\n  - name: a\n    mtu: big\n'), [
    'c.yaml:2:10: dataplane.lanes: expected an integer from 1 to 64, found 0',
    'c.yaml:3:7: dataplane.io: expected auto, uring or syscall, found "dpdk"',
    'c.yaml:6:10: interfaces[0].mtu: expected an integer from 1280 to 9000, found "big"',
  ]);
});

test('routes: reject and blackhole carry no next hop; preference defaults to 10', () => {
  const c = ok(loadConfigText('interfaces:\n  - name: a\nroutes:\n  - { prefix: 2001:db8::/32, reject: true }\n  - { prefix: "::/0", via: "fe80::1", interface: a }\n', 'c.yaml'));
  assert.deepEqual(c.routes, [
    { prefix: '2001:db8::/32', nexthops: [], reject: true, blackhole: false, preference: 10 },
    { prefix: '::/0', nexthops: [{ via: 'fe80::1', interface: 'a' }], reject: false, blackhole: false, preference: 10 },
  ]);
  assert.deepEqual(errorsOf('interfaces:\n  - name: a\nroutes:\n  - { prefix: 2001:db8::/32, reject: true, via: 2001:db8::1 }\n'), [
    'c.yaml:4:49: routes[0].via: expected no next hop on a reject route (it never leaves the router), found "2001:db8::1"',
  ]);
});

test('routes: nexthops makes an ECMP static route of 2 to 8 gateways, each checked like via', () => {
  const text = (hops: string, extra = '') => `interfaces:\n  - name: a\n    addresses: [2001:db8:1::1/64]\nroutes:\n  - prefix: 2001:db8:100::/48${extra}\n    nexthops: [${hops}]\n`;
  const c = ok(loadConfigText(text('{ via: 2001:db8:1::2 }, { via: "fe80::3", interface: a }'), 'c.yaml'));
  assert.deepEqual(c.routes[0]!.nexthops, [{ via: '2001:db8:1::2', interface: null }, { via: 'fe80::3', interface: 'a' }]);
  assert.deepEqual(errorsOf(text('{ via: 2001:db8:1::2 }')), ['c.yaml:6:5: routes[0].nexthops: expected a list of next hops (via alone for one) (at least 2), found a list']);
  assert.deepEqual(errorsOf(text('{ via: 2001:db8:1::2 }, { via: "fe80::3" }')), [
    'c.yaml:6:47: routes[0].nexthops[1].via: expected a global address, or a link-local one with `interface` beside it (RFC 4007 §6), found "fe80::3"',
  ]);
  assert.deepEqual(errorsOf(text('{ via: 2001:db8:1::2 }, { via: "fe80::3", interface: b }')), [
    'c.yaml:6:69: routes[0].nexthops[1].interface: expected the name of a configured interface (a), found "b"',
  ]);
  assert.deepEqual(errorsOf(text('{ via: 2001:db8:1::2 }, { via: 2001:db8:1::3 }', '\n    via: 2001:db8:1::4')), [
    'c.yaml:7:5: routes[0].nexthops: expected nexthops, or one of via/interface, reject, blackhole: not both, found a list',
  ]);
});

test('parseListen accepts bracketed IPv6 and IPv4 with a port, nothing else', () => {
  assert.deepEqual(parseListen('[::1]:9469'), { host: '::1', port: 9469 });
  assert.deepEqual(parseListen('[2001:DB8::1]:0'), { host: '2001:db8::1', port: 0 });
  assert.deepEqual(parseListen('127.0.0.1:80'), { host: '127.0.0.1', port: 80 });
  for (const bad of ['::1:9469', '[::1]', '[::1]:65536', 'localhost:80', '[::1]:-1', '1.2.3.256:1']) assert.equal(parseListen(bad), null, bad);
  assert.equal(formatListen({ host: '::1', port: 9469 }), '[::1]:9469');
});

test('YAML alias mistakes are reported at the alias, not thrown', () => {
  assert.deepEqual(errorsOf('interfaces:\n  - name: *lan\n'), [
    'c.yaml:2:11: YAML error: Unresolved alias (the anchor must be set before the alias): lan',
  ]);
});

test('any text either loads or yields positioned errors, never an exception', () => {
  const yamlish = fc.stringMatching(/^[a-z0-9:\[\]{}\-\n ,."/]{0,80}$/);
  fc.assert(
    fc.property(fc.oneof(yamlish, fc.string({ maxLength: 80 })), (text) => {
      const r = loadConfigText(text, 'f.yaml');
      if (!r.ok) {
        assert.ok(r.errors.length > 0);
        for (const e of r.errors) assert.ok(e.line >= 1 && e.column >= 1, formatConfigError(e));
      }
    }),
    { seed: 42, numRuns: 500 },
  );
});

test('docs/CONFIG.md documents every key of examples/reference.yaml and every section', () => {
  const docs = readFileSync(join(root, 'docs/CONFIG.md'), 'utf8');
  const keys = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') for (const [k, child] of Object.entries(v)) { keys.add(k); walk(child); }
  };
  walk(parse(readFileSync(join(root, 'examples/reference.yaml'), 'utf8')));
  for (const s of SECTIONS) keys.add(s.name);
  // A key is documented in a table cell as `key`, or as part of a dotted one (`rdnss.servers`).
  const documented = (k: string) => [`\`${k}\``, `.${k}\``, `\`${k}.`].some((form) => docs.includes(form));
  for (const k of keys) assert.ok(documented(k), `docs/CONFIG.md does not mention \`${k}\``);
  // The reference file itself must stay valid.
  ok(loadConfigFile(join(root, 'examples/reference.yaml')));
});
