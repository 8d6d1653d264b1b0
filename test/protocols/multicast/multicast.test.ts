/**
 * The multicast module over a recording MFC datapath: the config's routes become MFC
 * entries with the stack's port numbers, show mfc reads the lanes' counters back, and a
 * reload keeps a kept route's counter slot and totals while a new route starts from zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6 } from '../../../src/lib/addr.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { Stack } from '../../../src/stack/stack.js';
import { MulticastModule, type MfcRow } from '../../../src/protocols/multicast/multicast.js';
import type { MfcEntry } from '../../../src/shm/mfc.js';
import type { MfcCounters, MulticastDatapath } from '../../../src/shm/datapath.js';
import type { ModuleContext, ModuleLogger, ModuleStatus } from '../../../src/protocols/module.js';
import type { MulticastConfig } from '../../../src/config/sections/multicast.js';
import { FakeDatapath } from '../../stack/fake-datapath.js';
import { ip, mac } from '../../helpers/addr.js';

/** The lanes' per-slot totals, set by the test, and every table published. */
class FakeMfc implements MulticastDatapath {
  readonly tables: MfcEntry[][] = [];
  readonly totals = new Map<number, MfcCounters>();
  publishMfc(entries: readonly MfcEntry[]): void {
    this.tables.push([...entries]);
  }
  mfcCounters(slot: number): MfcCounters {
    return this.totals.get(slot) ?? { packets: 0, bytes: 0, wrongPort: 0 };
  }
}

const quiet: ModuleLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

function setup() {
  const mfc = new FakeMfc();
  const datapath = Object.assign(new FakeDatapath(), { multicast: mfc });
  const stack = new Stack({ clock: new ManualClock(0), rng: new SeededRng(3), datapath, log: { info() {}, warn() {}, debug() {} } });
  for (const [name, port, address] of [['up0', 0, '2001:db8:a::1'], ['lan1', 4, '2001:db8:b::1'], ['lan2', 9, '2001:db8:c::1']] as const) {
    stack.addInterface({ name, port, kind: 'tap', mac: mac(`02:00:00:00:00:0${port}`), mtu: 1500, addresses: [{ addr: ip(address), prefixLen: 64 }], ra: null });
  }
  const commands = new Map<string, () => ModuleStatus | Promise<ModuleStatus>>();
  const ctx: ModuleContext = {
    api: stack.api('static'),
    log: quiet,
    limited: () => quiet,
    metrics: { gauge() {}, counter() {} },
    commands: { register: (path, handler) => void commands.set(path.join(' '), () => handler({ command: path }, [])) },
    stateDir: '',
  };
  return { mfc, ctx, commands, stack };
}

const SG = { source: '2001:db8:ff::10', group: 'ff0e::db8:7', in: 'up0', out: ['lan1', 'lan2'] };
const STAR = { source: null, group: 'ff05::9', in: 'lan1', out: ['lan2'] };

test('routes become MFC entries with the stack\'s ports; show mfc reads the lanes\' counters', async () => {
  const { mfc, ctx, commands } = setup();
  const m = new MulticastModule();
  m.start(ctx, { routes: [SG, STAR] } satisfies MulticastConfig);
  const table = mfc.tables.at(-1)!;
  assert.deepEqual(
    table.map((e) => ({ source: e.source && formatIpv6(e.source), group: formatIpv6(e.group), inPort: e.inPort, outPorts: e.outPorts, counter: e.counter })),
    [
      { source: '2001:db8:ff::10', group: 'ff0e::db8:7', inPort: 0, outPorts: [4, 9], counter: 0 },
      { source: null, group: 'ff05::9', inPort: 4, outPorts: [9], counter: 1 },
    ],
  );
  mfc.totals.set(0, { packets: 7, bytes: 700, wrongPort: 2 });
  const shown = await commands.get('show mfc')!();
  assert.deepEqual((shown.data as { entries: MfcRow[] }).entries[0], { source: '2001:db8:ff::10', group: 'ff0e::db8:7', in: 'up0', rpf: false, out: ['lan1', 'lan2'], packets: 7, bytes: 700, wrongInterface: 2 });
  assert.match(shown.text, /^SOURCE\s+GROUP\s+IN\s+OUT\s+PACKETS\s+BYTES\s+WRONG-IF$/m);
  assert.match(shown.text, /^2001:db8:ff::10\s+ff0e::db8:7\s+up0\s+lan1,lan2\s+7\s+700\s+2$/m);
  assert.match(shown.text, /^\*\s+ff05::9\s+lan1\s+lan2\s+0\s+0\s+0$/m);
});

test('a reload keeps a kept route\'s slot and totals; a removed route\'s slot serves a new one from zero', async () => {
  const { mfc, ctx, commands } = setup();
  const m = new MulticastModule();
  m.start(ctx, { routes: [SG, STAR] });
  mfc.totals.set(0, { packets: 7, bytes: 700, wrongPort: 0 });
  mfc.totals.set(1, { packets: 3, bytes: 300, wrongPort: 1 });
  const other = { source: null, group: 'ff0e::1:1', in: 'up0', out: ['lan1'] };
  // STAR goes, `other` comes; SG changes its outgoing set but keeps its key.
  m.prepareReconfigure({ routes: [other, { ...SG, out: ['lan2'] }] })();
  const table = mfc.tables.at(-1)!;
  assert.deepEqual(table.map((e) => [formatIpv6(e.group), e.counter, e.outPorts]), [['ff0e::1:1', 1, [4]], ['ff0e::db8:7', 0, [9]]]);
  const rows = ((await commands.get('show mfc')!()).data as { entries: MfcRow[] }).entries;
  assert.deepEqual(rows.map((r) => [r.group, r.packets, r.bytes, r.wrongInterface]), [['ff0e::1:1', 0, 0, 0], ['ff0e::db8:7', 7, 700, 0]]);
  m.stop();
  assert.deepEqual(mfc.tables.at(-1), [], 'stopping withdraws every entry');
});

test('rpf: the incoming port follows the best unicast route toward the source; with none the entry is left out', async () => {
  const { mfc, ctx, commands, stack } = setup();
  const m = new MulticastModule();
  const remote = { source: '2001:db8:77::5', group: 'ff0e::db8:8', in: null, out: ['lan2'] };
  const onLink = { source: '2001:db8:b::20', group: 'ff0e::db8:9', in: null, out: ['lan2'] };
  m.start(ctx, { routes: [remote, onLink] });
  // The source on lan1's prefix: its connected route gives lan1. No route yet toward the other.
  assert.deepEqual(mfc.tables.at(-1)!.map((e) => [formatIpv6(e.group), e.inPort]), [['ff0e::db8:9', 4]]);
  let rows = ((await commands.get('show mfc')!()).data as { entries: MfcRow[] }).entries;
  assert.deepEqual(rows.map((r) => [r.group, r.in, r.rpf]), [['ff0e::db8:8', null, true], ['ff0e::db8:9', 'lan1', true]]);
  assert.match((await commands.get('show mfc')!()).text, /^2001:db8:77::5\s+ff0e::db8:8\s+rpf:no-route\s+lan2/m);
  // A route toward it appears (up0), then moves (lan1): each time the table follows, once per turn.
  const api = stack.api('static');
  api.addRoute({ prefix: ip('2001:db8:77::'), prefixLen: 48, preference: 10, metric: 0, kind: 'unicast', nexthops: [{ port: 0, gateway: ip('fe80::1') }] });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(mfc.tables.at(-1)!.map((e) => [formatIpv6(e.group), e.inPort]), [['ff0e::db8:8', 0], ['ff0e::db8:9', 4]]);
  const published = mfc.tables.length;
  api.addRoute({ prefix: ip('2001:db8:77::'), prefixLen: 48, preference: 10, metric: 0, kind: 'unicast', nexthops: [{ port: 4, gateway: ip('fe80::2') }] });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(mfc.tables.length, published + 1);
  assert.deepEqual(mfc.tables.at(-1)!.map((e) => e.inPort), [4, 4]);
  rows = ((await commands.get('show mfc')!()).data as { entries: MfcRow[] }).entries;
  assert.equal(rows[0]!.in, 'lan1');
  m.stop();
});
