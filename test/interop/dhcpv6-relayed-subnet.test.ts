/**
 * Issue 12, item 6: turtle6's server serves a subnet behind a relay one hop away.
 *
 *   dhcp6c (ns c) ── veth 2001:db8:5::/64 ── relay ── 2001:db8:8::/64 ── turtle6 server (ns r)
 *
 * The relay is first a kernel router running WIDE `dhcp6relay -s 2001:db8:8::1` (Relay-forw
 * unicast to the server), then a second turtle6 with its own relay agent. Either way its
 * link-address is 2001:db8:5::1, which no interface of the server holds: only the
 * `subnets` entry for 2001:db8:5::/64 matches it (RFC 8415 §19.1.1), so the client's
 * address and delegated prefix come from that subnet's pools, and the Reply goes back in a
 * Relay-repl to the relay.
 *
 * Then Reconfigure through each relay: turtle6's client behind it accepts Reconfigure, once
 * with a reconfigure key and once with delayed authentication; a reload of the server sends
 * it a Reconfigure in a Relay-repl (RFC 8415 §18.3.11), and it renews.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, type RunningRouter } from '../helpers/router.js';
import { startDhcp6c, startDhcp6relay, type WideDaemon } from './dhcp/wide.js';
import { addBridge, dhcpClient, dhcpLeases, dhcpStatus, enslave, RA_OFF, routerStateDir, routerYaml, secretFile, waitFor, waitForAddresses, waitForLinkLocal, type LogSource } from './dhcp/topology.js';

const CLIENT_DUID = '00:03:00:01:02:00:00:00:05:01';
const SERVER_ADDRESS = '2001:db8:8::1';
const SUBNET = '2001:db8:5::/64';
/** The relay's address on the client's link: the link-address of its Relay-forw. */
const RELAY_CLIENT_SIDE = '2001:db8:5::1/64';

/**
 * The server's `dhcpv6:` section: its only interface is the one towards the relay, with no
 * pools; the client's link is served by prefix alone. The pool crosses ::f → ::10 … ::1ff,
 * so a bound compared as text would refuse every address in it.
 */
function serverDhcpv6(extra = ''): string {
  return `
dhcpv6:
  server:
    subnets:
      - prefix: ${SUBNET}
        addressPool: { start: 2001:db8:5::f, end: 2001:db8:5::1ff }
        prefixPool: { prefix: 2001:db8:500::/48, delegatedLength: 56 }
${extra}`;
}

/** dhcp6c on `ifname` in `c`, asking for IA_NA and IA_PD; the /64 with sla-id 1 goes on bridge lan0. */
function startClient(bed: TestBed, c: Netns, ifname: string): WideDaemon {
  addBridge(c, 'lan0');
  return startDhcp6c(bed, c, ifname, CLIENT_DUID, `
interface ${ifname} {
  send ia-na 1;
  send ia-pd 1;
};
id-assoc na 1 { };
id-assoc pd 1 {
  prefix-interface lan0 { sla-id 1; sla-len 8; };
};
`);
}

/**
 * The client holds an address of the subnet's pool and the /64 of a /56 of its prefix pool,
 * and the server's leases show both on the subnet, heard through `relay`.
 */
async function assertRelayedBinding(c: Netns, ifname: string, server: RunningRouter, relay: string, sources: Readonly<Record<string, LogSource>>): Promise<void> {
  const got = await waitForAddresses(c, {
    [ifname]: (a) => a.startsWith('2001:db8:5::'),
    lan0: (a) => a.startsWith('2001:db8:500:1:'),
  }, 'dhcp6c to configure an address and a delegated /64 from the relayed subnet', sources, 30_000);
  const leases = await dhcpLeases(server);
  const view = leases.map((l) => ({ lease: l.lease, kind: l.kind, duid: l.duid, link: l.link, relay: l.relay }));
  assert.deepEqual(view.sort((a, b) => a.kind.localeCompare(b.kind)), [
    { lease: '2001:db8:5::f', kind: 'IA_NA', duid: CLIENT_DUID, link: SUBNET, relay },
    { lease: '2001:db8:500::/56', kind: 'IA_PD', duid: CLIENT_DUID, link: SUBNET, relay },
  ]);
  assert.equal(got[ifname], '2001:db8:5::f', 'the client holds the address the server leased');
}

/**
 * turtle6 as the server (ns r) and as the relay (ns q): the server's tap and the relay's
 * upstream tap meet on a new bridge in ns m; the relay's client-facing tap `rc` (holding
 * the link-address) goes into `clientSide`. Relay-forw goes unicast to the server.
 */
async function serverAndTurtle6Relay(bed: TestBed, clientSide: Netns, rc: string, serverExtra = ''): Promise<{ server: RunningRouter; relay: RunningRouter }> {
  const r = bed.netns('r');
  const q = bed.netns('q');
  const m = bed.netns('m');
  const up = shortName('t6u');
  const ru = shortName('t6v');
  addBridge(m, 'sw0');
  const server = await startRouter(bed, r, routerYaml([{ name: up, netns: m, addresses: [`${SERVER_ADDRESS}/64`], ra: RA_OFF }], serverDhcpv6(serverExtra)));
  const relay = await startRouter(bed, q, routerYaml([
    { name: rc, netns: clientSide, addresses: [RELAY_CLIENT_SIDE], ra: RA_OFF },
    { name: ru, netns: m, addresses: ['2001:db8:8::3/64'], ra: RA_OFF },
  ], `
dhcpv6:
  relay:
    interfaces: [${rc}]
    upstream: ${ru}
    servers: [${SERVER_ADDRESS}]
`));
  enslave(m, up, 'sw0');
  enslave(m, ru, 'sw0');
  return { server, relay };
}

/**
 * turtle6 as the server (ns r), its tap into ns rl: a kernel router (forwarding on) at
 * 2001:db8:8::2 on that link, where the client's link is added and WIDE dhcp6relay runs.
 */
async function serverBehindKernelRouter(bed: TestBed, serverExtra = ''): Promise<{ server: RunningRouter; rl: Netns; up: string }> {
  const r = bed.netns('r');
  const rl = bed.netns('rl');
  const up = shortName('t6u');
  const server = await startRouter(bed, r, routerYaml([{ name: up, netns: rl, addresses: [`${SERVER_ADDRESS}/64`], ra: RA_OFF }], serverDhcpv6(serverExtra)));
  rl.sysctl('net.ipv6.conf.all.forwarding', '1');
  rl.ip('link', 'set', up, 'up');
  rl.ip('addr', 'add', '2001:db8:8::2/64', 'dev', up, 'nodad');
  await waitForLinkLocal(rl, up);
  return { server, rl, up };
}

/** dhcp6relay in rl for the client's link `ifname`, which gets the link-address; Relay-forw goes unicast to the server. */
async function startWideRelay(bed: TestBed, rl: Netns, ifname: string, up: string): Promise<WideDaemon> {
  rl.ip('link', 'set', ifname, 'up');
  rl.ip('addr', 'add', RELAY_CLIENT_SIDE, 'dev', ifname, 'nodad');
  await waitForLinkLocal(rl, ifname);
  return startDhcp6relay(bed, rl, ifname, up, SERVER_ADDRESS);
}

test('WIDE dhcp6relay on a kernel router: dhcp6c binds an address and a prefix from turtle6\'s subnet for the remote link', { timeout: 90_000 }, async (t) => {
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  requireCommand('dhcp6relay', 'wide-dhcpv6-relay');
  const bed = new TestBed('d6sub');
  t.after(() => bed.cleanup());
  const c = bed.netns('c');
  const rc = shortName('d6r');
  const cc = shortName('d6c');
  const { server, rl, up } = await serverBehindKernelRouter(bed);
  rl.ip('link', 'add', rc, 'type', 'veth', 'peer', 'name', cc, 'netns', c.name);
  c.ip('link', 'set', cc, 'up');
  const relay = await startWideRelay(bed, rl, rc, up);
  await waitForLinkLocal(c, cc);
  const client = startClient(bed, c, cc);

  await assertRelayedBinding(c, cc, server, '2001:db8:8::2', { dhcp6c: client, dhcp6relay: relay, turtle6: server });
  // dhcp6relay sent Relay-forw unicast to the server, and turtle6's Relay-repl echoed its
  // link-address and Interface-ID, so the Reply went to the client on the right port.
  const log = relay.log();
  assert.match(log, /relay_to_server: relay a message to a server 2001:db8:8::1/);
  assert.match(log, /received relay-reply from 2001:db8:8::1/);
  assert.match(log, /dhcp6 relay reply: hop=0, linkaddr=2001:db8:5::1, peeraddr=fe80::/);
  assert.match(log, /get DHCP option interface ID, len \d+\n.*get DHCP option relay message/);
  assert.match(log, new RegExp(`relay a message to a client fe80::[0-9a-f:]+%${rc}`));
});

test('turtle6\'s relay in place of dhcp6relay: the same binding from the same subnet', { timeout: 90_000 }, async (t) => {
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  const bed = new TestBed('d6sur');
  t.after(() => bed.cleanup());
  const c = bed.netns('c');
  const rc = shortName('t6c');
  const { server, relay: relayRouter } = await serverAndTurtle6Relay(bed, c, rc);
  c.ip('link', 'set', rc, 'up');
  await waitForLinkLocal(c, rc);
  const client = startClient(bed, c, rc);

  await assertRelayedBinding(c, rc, server, '2001:db8:8::3', { dhcp6c: client, 'turtle6 relay': relayRouter, 'turtle6 server': server });
  assert.deepEqual(await dhcpLeases(relayRouter), [], 'the relay keeps no leases of its own');
});

const SECRET = '5pvW2g48OHPvkYMJSw0vZA==';

for (const relayKind of ['turtle6', 'dhcp6relay'] as const) for (const auth of ['reconfigure key', 'delayed authentication'] as const) {
  test(`Reconfigure through ${relayKind} to turtle6's client (${auth}): a reload's Reconfigure goes back in a Relay-repl and the client renews`, { timeout: 90_000 }, async (t) => {
    if (relayKind === 'dhcp6relay') requireCommand('dhcp6relay', 'wide-dhcpv6-relay');
    const delayed = auth === 'delayed authentication';
    const bed = new TestBed(`d6r${relayKind[0]}${delayed ? 'd' : 'k'}`);
    t.after(() => bed.cleanup());
    const c = bed.netns('c');
    const ct = shortName('t6k');

    // Long lifetimes: T1 is 300 s away, so only a Reconfigure makes the client renew now.
    const keys = delayed ? `  keys:\n    - { name: t6key, realm: turtle6.test, keyId: 1, secretFile: ${secretFile(bed, SECRET)} }\n` : '';
    const serverExtra = `    preferredLifetime: 600
    validLifetime: 1200
    dnsServers: [2001:db8:8::53]
${delayed ? `    reservations:\n      - { duid: ${CLIENT_DUID}, key: t6key }\n` : ''}${keys}`;
    const clientYaml = (clientSide: Netns) => routerYaml([{ name: ct, netns: clientSide, ra: RA_OFF }], `stateDir: ${routerStateDir(bed, CLIENT_DUID)}
dhcpv6:
${keys}  client:
    interface: ${ct}
    acceptReconfigure: true
${delayed ? '    key: t6key\n' : ''}`);
    // The client's tap shares a bridge with turtle6's relay, or is the kernel router's port on the client's link.
    let server: RunningRouter;
    let client: RunningRouter;
    let relay: LogSource;
    let turtle6Relay: RunningRouter | null = null;
    let relayAddress: string;
    if (relayKind === 'turtle6') {
      const l = bed.netns('l');
      const rc = shortName('t6c');
      addBridge(l, 'sw1');
      const routers = await serverAndTurtle6Relay(bed, l, rc, serverExtra);
      server = routers.server;
      relay = turtle6Relay = routers.relay;
      relayAddress = '2001:db8:8::3';
      client = await startRouter(bed, c, clientYaml(l));
      enslave(l, rc, 'sw1');
      enslave(l, ct, 'sw1');
    } else {
      const kernel = await serverBehindKernelRouter(bed, serverExtra);
      server = kernel.server;
      relayAddress = '2001:db8:8::2';
      client = await startRouter(bed, c, clientYaml(kernel.rl));
      relay = await startWideRelay(bed, kernel.rl, ct, kernel.up);
    }
    const logs = { 'turtle6 server': server, [relayKind]: relay, 'turtle6 client': client };

    await waitFor('the client to bind through the relay with the first DNS server', async () => {
      const show = await dhcpClient(client);
      return show.phase === 'bound' && show.dnsServers.includes('2001:db8:8::53');
    }, 30_000, logs);
    const bound = await dhcpClient(client);
    assert.deepEqual(bound.leases.map((x) => x.lease).sort(), ['2001:db8:500::/56', '2001:db8:5::f']);
    assert.deepEqual((await dhcpLeases(server)).map((x) => [x.link, x.relay]), [[SUBNET, relayAddress], [SUBNET, relayAddress]]);
    assert.equal((await dhcpStatus(client)).sent['renew'] ?? 0, 0, 'no Renew before the Reconfigure');

    const file = join(server.dir, 'turtle6.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('dnsServers: [2001:db8:8::53]', 'dnsServers: [2001:db8:8::54]'));
    await server.ctl(['reload']);
    await waitFor('the client to renew and take the new DNS server', async () => (await dhcpClient(client)).dnsServers.includes('2001:db8:8::54'), 20_000, logs);

    const after = await dhcpClient(client);
    assert.deepEqual(after.leases, bound.leases, 'the same address and prefix, renewed');
    const cs = await dhcpStatus(client);
    assert.ok((cs.received['reconfigure'] ?? 0) >= 1, JSON.stringify(cs));
    assert.ok((cs.sent['renew'] ?? 0) >= 1, JSON.stringify(cs));
    assert.deepEqual([cs.drops['auth-missing'], cs.drops['auth-failed'], cs.drops['auth-replay']], [0, 0, 0]);
    // turtle6's relay counts the Reconfigure it unwrapped from a Relay-repl and passed on.
    if (turtle6Relay !== null) {
      const rs = await dhcpStatus(turtle6Relay);
      assert.ok((rs.sent['reconfigure'] ?? 0) >= 1, JSON.stringify(rs));
    }
    assert.match(server.output(), /"clients":1[,}].*Reconfigure sent/);
  });
}
