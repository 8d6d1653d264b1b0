/**
 * The relay's routes for prefixes delegated through it (relay-routes.ts): what a Reply
 * installs and for how long, what removes a route (valid lifetime 0, NoBinding, a Release
 * the server confirms, the end of the valid lifetime), and that a restart on the same state
 * directory routes the same prefixes again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIpv6, parseIpv6 } from '../../../src/lib/addr.js';
import { DHCP6_MSG, DHCP6_STATUS, parseDuid, type Dhcp6ClientMessage, type Dhcp6Option } from '../../../src/wire/dhcpv6.js';
import { RelayPdRoutes } from '../../../src/protocols/dhcpv6/relay-routes.js';
import type { RibRoute } from '../../../src/stack/rib.js';

const root = mkdtempSync(join(tmpdir(), 't6-relay-pd-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

const DUID = parseDuid('00:03:00:01:02:00:00:00:07:02')!;
const CLIENT = parseIpv6('fe80::7:2')!;
const PORTS: Record<string, number> = { lan1: 3, lan2: 4 };

/** The relay's snooper over a RIB of one origin, on a clock the test moves. */
function relay(dir = mkdtempSync(join(root, `d${dirs++}-`))) {
  const routes = new Map<string, RibRoute>();
  const key = (p: Uint8Array, l: number) => `${formatIpv6(p)}/${l}`;
  const clock = { now: 1_000_000 };
  const snoop = new RelayPdRoutes(dir, {
    routes: {
      addRoute: (r) => void routes.set(key(r.prefix, r.prefixLen), { ...r, origin: 'dhcpv6-pd' }),
      withdrawRoute: (p, l) => void routes.delete(key(p, l)),
      routes: () => [...routes.values()],
    },
    portOf: (name) => PORTS[name],
    nowMs: () => clock.now,
  });
  const shown = () => [...routes.values()].map((r) => `${key(r.prefix, r.prefixLen)} via ${formatIpv6(r.nexthops[0]!.gateway!)} port ${r.nexthops[0]!.port}`).sort();
  return { snoop, clock, shown, dir };
}

function prefix(p: string, valid: number): Dhcp6Option {
  const [addr, len] = p.split('/');
  return { kind: 'iaPrefix', preferred: Math.min(valid, 60), valid, prefixLen: Number(len), prefix: parseIpv6(addr!)!, options: [] };
}

function iaPd(iaid: number, options: Dhcp6Option[]): Dhcp6Option {
  return { kind: 'iaPd', iaid, t1: 30, t2: 48, options };
}

function message(msgType: number, transactionId: number, options: Dhcp6Option[]): Dhcp6ClientMessage {
  return { type: 'client', msgType, transactionId, options: [{ kind: 'clientId', duid: DUID }, ...options] };
}

test('a Reply with IA_PD routes each prefix via the client on its link, until the valid lifetime ends; a Renew Reply extends it', () => {
  const { snoop, clock, shown } = relay();
  snoop.reply(message(DHCP6_MSG.ADVERTISE, 1, [iaPd(1, [prefix('2001:db8:70::/48', 120)])]), 'lan1', CLIENT);
  assert.deepEqual(shown(), [], 'an Advertise binds nothing');
  snoop.reply(message(DHCP6_MSG.REPLY, 2, [iaPd(1, [prefix('2001:db8:70::/48', 120), prefix('2001:db8:71::/56', 60)])]), 'lan1', CLIENT);
  assert.deepEqual(shown(), ['2001:db8:70::/48 via fe80::7:2 port 3', '2001:db8:71::/56 via fe80::7:2 port 3']);
  clock.now += 60_000;
  assert.equal(snoop.expire(), true);
  assert.deepEqual(shown(), ['2001:db8:70::/48 via fe80::7:2 port 3'], 'the /56 reached its valid lifetime');
  // The Reply to a Renew, 50 s later: another 120 s from then.
  clock.now += 50_000;
  snoop.reply(message(DHCP6_MSG.REPLY, 3, [iaPd(1, [prefix('2001:db8:70::/48', 120)])]), 'lan1', CLIENT);
  clock.now += 100_000;
  assert.equal(snoop.expire(), false, 'renewed: 120 s from the Renew, not from the first Reply');
  clock.now += 20_000;
  assert.equal(snoop.expire(), true);
  assert.deepEqual(shown(), []);
});

test('valid lifetime 0 and NoBinding remove a route; infinity keeps it', () => {
  const { snoop, clock, shown } = relay();
  snoop.reply(message(DHCP6_MSG.REPLY, 1, [iaPd(1, [prefix('2001:db8:70::/48', 0xffffffff)]), iaPd(2, [prefix('2001:db8:72::/48', 120)])]), 'lan2', CLIENT);
  clock.now += 10 * 365 * 86_400_000;
  snoop.expire();
  assert.deepEqual(shown(), ['2001:db8:70::/48 via fe80::7:2 port 4'], 'an infinite valid lifetime never ends (RFC 8415 §7.7)');
  snoop.reply(message(DHCP6_MSG.REPLY, 2, [iaPd(1, [prefix('2001:db8:70::/48', 0)])]), 'lan2', CLIENT);
  assert.deepEqual(shown(), [], 'valid lifetime 0: the server withdrew it');
  snoop.reply(message(DHCP6_MSG.REPLY, 3, [iaPd(1, [prefix('2001:db8:70::/48', 120)])]), 'lan2', CLIENT);
  snoop.reply(message(DHCP6_MSG.REPLY, 4, [iaPd(1, [{ kind: 'statusCode', status: DHCP6_STATUS.NO_BINDING, message: 'no binding' }])]), 'lan2', CLIENT);
  assert.deepEqual(shown(), [], 'NoBinding for the IA: its prefixes are gone');
});

test('a Release removes the route once the server answers it with Success, not before, and not on a failure', () => {
  const { snoop, shown } = relay();
  snoop.reply(message(DHCP6_MSG.REPLY, 1, [iaPd(1, [prefix('2001:db8:70::/48', 120)])]), 'lan1', CLIENT);
  const release = message(DHCP6_MSG.RELEASE, 7, [iaPd(1, [prefix('2001:db8:70::/48', 0)])]);
  snoop.forwarded(release);
  assert.equal(shown().length, 1, 'the Release alone changes nothing: it may be lost');
  snoop.reply(message(DHCP6_MSG.REPLY, 7, [{ kind: 'statusCode', status: DHCP6_STATUS.UNSPEC_FAIL, message: 'no' }]), 'lan1', CLIENT);
  assert.equal(shown().length, 1, 'the server refused');
  snoop.forwarded({ ...release, transactionId: 8 });
  snoop.reply(message(DHCP6_MSG.REPLY, 8, [{ kind: 'statusCode', status: DHCP6_STATUS.SUCCESS, message: 'ok' }]), 'lan1', CLIENT);
  assert.deepEqual(shown(), []);
});

test('a restart on the same state directory routes the delegations again, without those that ended meanwhile', () => {
  const first = relay();
  first.snoop.reply(message(DHCP6_MSG.REPLY, 1, [iaPd(1, [prefix('2001:db8:70::/48', 120), prefix('2001:db8:71::/56', 30)])]), 'lan1', CLIENT);
  first.snoop.withdrawAll();
  assert.deepEqual(first.shown(), [], 'a stop withdraws the routes');
  const second = relay(first.dir);
  second.clock.now = first.clock.now + 60_000;
  second.snoop.restore();
  assert.deepEqual(second.shown(), ['2001:db8:70::/48 via fe80::7:2 port 3'], 'the /56 ended while turtle6 was down');
});
