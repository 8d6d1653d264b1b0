/**
 * How a reload classifies port changes (CONFIG.md, the interfaces table's reload column):
 * added and removed ports open and close, a change of kind/mac/netns/attach/linkLocal
 * restarts the port alone, addresses/mtu/ra apply in place; and what the interfaces
 * participant then does, in which order, and what it refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InterfaceConfig } from '../../src/config/schema.js';
import { loadValid as load } from '../helpers/config.js';
import { classifyPortChanges, portsReopened, reloadParticipants, type ReloadTarget } from '../../src/app/reload-participants.js';
import { ConfigRejected } from '../../src/config/reload.js';

const base = `
interfaces:
  - name: lan0
    addresses: [2001:db8:1::1/64]
  - name: lan1
    addresses: [2001:db8:2::1/64]
  - name: lan2
    kind: tun
`;

const names = (list: readonly InterfaceConfig[]) => list.map((i) => i.name);

test('an unchanged config changes no port', () => {
  const c = load(base);
  const d = classifyPortChanges(c.interfaces, load(base).interfaces);
  assert.deepEqual([d.added, d.removed, d.restarted, d.inPlace], [[], [], [], []]);
});

test('ports are matched by name: one added, one removed, a rename is both, order does not matter', () => {
  const current = load(base).interfaces;
  const next = load(`
interfaces:
  - name: lan2
    kind: tun
  - name: wan0
  - name: lan0
    addresses: [2001:db8:1::1/64]
`).interfaces;
  const d = classifyPortChanges(current, next);
  assert.deepEqual(names(d.added), ['wan0']);
  assert.deepEqual(names(d.removed), ['lan1']);
  assert.deepEqual([d.restarted, d.inPlace], [[], []], 'reordering moves nothing');
  assert.deepEqual([...portsReopened(d)].sort(), ['lan1', 'wan0']);
});

test('kind, mac, netns restart the port, naming the keys; a new MAC also moves the derived link-local', () => {
  const current = load(base).interfaces;
  const next = load(`
interfaces:
  - name: lan0
    mac: "02:00:00:00:00:42"
    addresses: [2001:db8:1::1/64]
  - name: lan1
    netns: elsewhere
    addresses: [2001:db8:2::1/64]
  - name: lan2
    kind: tap
`).interfaces;
  const d = classifyPortChanges(current, next);
  assert.deepEqual(d.restarted.map((r) => [r.after.name, r.keys]), [
    ['lan0', ['mac', 'linkLocal']],
    ['lan1', ['netns']],
    // A TUN's link-local comes from the same derived MAC: only the MAC itself is new.
    ['lan2', ['kind', 'mac']],
  ]);
  assert.deepEqual(d.inPlace, []);
});

test('addresses, mtu and ra apply in place, naming the keys; a port with a restart key and in-place keys restarts', () => {
  const current = load(base).interfaces;
  const next = load(`
interfaces:
  - name: lan0
    mtu: 1400
    addresses: [2001:db8:1::2/64]
  - name: lan1
    addresses: [2001:db8:2::1/64]
    ra: { maxInterval: 30 }
  - name: lan2
    kind: tap
    mtu: 1400
`).interfaces;
  const d = classifyPortChanges(current, next);
  assert.deepEqual(d.inPlace.map((c) => [c.after.name, c.keys]), [
    ['lan0', ['addresses', 'mtu']],
    ['lan1', ['ra']],
  ]);
  assert.deepEqual(d.restarted.map((r) => r.after.name), ['lan2']);
});

/** A target that records what the interfaces participant asks of the running appliance. */
function fakeTarget(ports: Record<string, number>, journal: string[], free: number[]): ReloadTarget {
  return {
    stack: { updateInterface: (port: number) => journal.push(`update ${port}`) } as unknown as ReloadTarget['stack'],
    setLogRate() {},
    setIcmpLimits() {},
    setPuntPolicing() {},
    root: {} as ReloadTarget['root'],
    deviceOf: (name) => name,
    largestMtu: 1500,
    portOf: (name) => ports[name]!,
    reservePort: () => free.shift() ?? null,
    unreservePort: (port) => {
      journal.push(`unreserve ${port}`);
      free.unshift(port);
    },
    closePort: async (name) => void journal.push(`close ${name}`),
    openPort: async (iface, port) => void journal.push(`open ${iface.name} at ${port}`),
    restartMetrics: async () => {},
  };
}

function interfacesParticipant(target: ReloadTarget) {
  return reloadParticipants(target).participants.find((p) => p.name === 'interfaces')!;
}

test('apply closes removed and restarted ports before it opens added and restarted ones at fresh indices', async () => {
  const journal: string[] = [];
  const current = load(base);
  const next = load(`
interfaces:
  - name: lan0
    addresses: [2001:db8:1::1/64]
  - name: lan2
    kind: tap
  - name: lan3
`);
  const change = await interfacesParticipant(fakeTarget({ lan0: 0, lan1: 1, lan2: 2 }, journal, [4, 5]))!.prepare(next, current);
  assert.ok(change);
  assert.equal(change.mode, 'restart-module');
  assert.deepEqual(change.describe, ['lan1: removed (closed on every lane)', 'lan2: restarts (kind, mac changed)', 'lan3: added (opened on every lane)']);
  await change.apply();
  assert.deepEqual(journal, ['close lan1', 'close lan2', 'open lan3 at 4', 'open lan2 at 5']);
});

test('an in-place change keeps the port open and its index', async () => {
  const journal: string[] = [];
  const next = load(base.replace('addresses: [2001:db8:2::1/64]', 'addresses: [2001:db8:2::9/64]'));
  const change = await interfacesParticipant(fakeTarget({ lan0: 0, lan1: 1, lan2: 2 }, journal, [4]))!.prepare(next, load(base));
  assert.ok(change);
  assert.equal(change.mode, 'in-place');
  await change.apply();
  assert.deepEqual(journal, ['update 1']);
});

test('a port whose MTU needs larger pool slots than the lanes have is refused, saying a restart is needed', async () => {
  const next = load(`${base}  - name: jumbo\n    mtu: 9000\n`);
  await assert.rejects(
    interfacesParticipant(fakeTarget({ lan0: 0, lan1: 1, lan2: 2 }, [], [4]))!.prepare(next, load(base)),
    (e: unknown) => e instanceof ConfigRejected && /interfaces\[jumbo\]\.mtu 9000 is larger than the lanes' pool slots hold .*restart turtle6 to apply/.test(e.message),
  );
});

test('with no port index left the reload is refused, and the indices reserved so far go back', async () => {
  const journal: string[] = [];
  const free = [4];
  const next = load(`${base}  - name: lan3\n  - name: lan4\n`);
  await assert.rejects(interfacesParticipant(fakeTarget({ lan0: 0, lan1: 1, lan2: 2 }, journal, free))!.prepare(next, load(base)), /lan4.*no free port index/);
  assert.deepEqual(journal, ['unreserve 4']);
  assert.deepEqual(free, [4]);
});

test('abort gives back the reserved indices', async () => {
  const journal: string[] = [];
  const free = [4, 5];
  const change = await interfacesParticipant(fakeTarget({ lan0: 0, lan1: 1, lan2: 2 }, journal, free))!.prepare(load(`${base}  - name: lan3\n`), load(base));
  assert.deepEqual(free, [5]);
  await change!.abort();
  assert.deepEqual(free, [4, 5]);
  assert.deepEqual(journal, ['unreserve 4']);
});
