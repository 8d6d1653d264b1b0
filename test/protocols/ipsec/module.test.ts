/**
 * The ipsec module on a ManualClock over a recording ESP data path: what it publishes, what
 * a reload keeps (sequence numbers), lifetimes (soft event, hard removal, traffic then
 * discarded by the policy), flush, show and metrics, and outbound sequence numbers across
 * restarts and crashes (the reservation itself: sequence-reserve.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/lib/clock.js';
import { SnapshotReader, SnapshotWriter } from '../../../src/shm/snapshot.js';
import { IpsecState, IpsecView, ST, encodeIpsecTables, ipsecTablesByteLength, type PolicyRecord, type SaRecord } from '../../../src/shm/ipsec-tables.js';
import { ipsecSection, type IpsecConfig } from '../../../src/config/sections/ipsec.js';
import { IpsecModule, LIFETIME_CHECK_MS } from '../../../src/protocols/ipsec/ipsec.js';
import type { IpsecDatapath } from '../../../src/shm/datapath.js';
import type { StackApi } from '../../../src/stack/stack-api.js';
import type { MetricEmit, ModuleCommandRequest, ModuleContext, ModuleLogger, ModuleStatus } from '../../../src/protocols/module.js';
import { EspStage, ESP_BYPASS } from '../../../src/dataplane/esp.js';
import { C } from '../../../src/dataplane/counters.js';
import { ipv6Packet } from '../../dataplane/harness.js';
import { formatIpv6, parseIpv6 } from '../../../src/lib/addr.js';
import type { RibRoute } from '../../../src/stack/rib.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIN_RESERVATION, RESERVE_CHECK_MS, keyFingerprint, type MarkStore } from '../../../src/protocols/ipsec/sequence-store.js';
import { PacketContext } from '../../../src/dataplane/packet-context.js';

/** Where the ESP stage leaves what it found out about a packet (its position after encapsulation or decapsulation). */
const pc = new PacketContext();

/** One state directory per test file run, a subdirectory per harness unless one is shared. */
const stateRoot = mkdtempSync(join(tmpdir(), 't6-ipsec-'));
process.on('exit', () => rmSync(stateRoot, { recursive: true, force: true }));
let harnesses = 0;

const KEY_A = '0x' + '41'.repeat(16) + '01020304';
const KEY_B = '0x' + '42'.repeat(16) + '05060708';

class RecordingDatapath implements IpsecDatapath {
  readonly lanes = 2;
  readonly state = IpsecState.create();
  readonly published: Array<{ sas: readonly SaRecord[]; policies: readonly PolicyRecord[] }> = [];
  publishIpsec(sas: readonly SaRecord[], policies: readonly PolicyRecord[]): void {
    this.published.push({ sas, policies });
  }
  /** No lane reads these tables: each publish is a generation every lane has already left behind. */
  ipsecGeneration(): number {
    return this.published.length;
  }
  lanesPast(generation: number): boolean {
    return generation < this.published.length;
  }
  last() {
    return this.published.at(-1)!;
  }
  /** The last published tables as a lane stage on lane `lane` sees them. */
  stage(lane: number): EspStage {
    const { sas, policies } = this.last();
    const region = new Uint8Array(ipsecTablesByteLength(sas, policies));
    encodeIpsecTables(sas, policies, region);
    const view = new IpsecView();
    view.bind(region, 0);
    const s = new EspStage(this.state, lane);
    s.bind(view);
    return s;
  }
}

/**
 * A RecordingDatapath whose tables also go through the real snapshot the lanes read, so
 * that a simulated lane (SnapshotLane) can hold an older generation, as a lane mid-batch does.
 */
class SnapshotDatapath extends RecordingDatapath {
  readonly writer = new SnapshotWriter({ readers: this.lanes, initialBytes: 4096, maxBytes: 1 << 20, scrub: true });
  override publishIpsec(sas: readonly SaRecord[], policies: readonly PolicyRecord[]): void {
    super.publishIpsec(sas, policies);
    this.writer.publish((dst) => encodeIpsecTables(sas, policies, dst), ipsecTablesByteLength(sas, policies));
  }
  override ipsecGeneration(): number {
    return this.writer.generation();
  }
  override lanesPast(generation: number): boolean {
    return this.writer.readersPast(generation);
  }
}

/** One lane as lane-worker.ts runs it: the tables are acquired at the start of a batch and held until the next. */
class SnapshotLane {
  private readonly reader: SnapshotReader;
  private readonly view = new IpsecView();
  private readonly stage: EspStage;
  private readonly pkt = ipv6Packet({ src: parseIpv6(H1)!, dst: parseIpv6(H3)!, echoData: 8 });
  private readonly b = new Uint8Array(1024);

  constructor(private readonly dp: SnapshotDatapath, lane: number) {
    this.reader = new SnapshotReader(dp.writer.handle, lane);
    this.stage = new EspStage(dp.state, lane);
  }

  /** The next batch on the newest tables; the control plane's retry timer runs in between (LaneSet.publish). */
  batch(): void {
    for (;;) {
      if (this.reader.acquire()) {
        this.view.bind(this.reader.bytes, 0);
        this.stage.bind(this.view);
      }
      if (!this.dp.writer.hasPending()) return;
      this.dp.writer.flushPending();
    }
  }

  /** Sends `n` packets from H1's LAN to H3's; returns the (SPI, sequence number) of each ESP packet. */
  send(n: number): string[] {
    const sent: string[] = [];
    const d = new DataView(this.b.buffer);
    for (let i = 0; i < n; i++) {
      this.b.set(this.pkt, 256);
      const sa = this.stage.outbound(this.b, 256, this.pkt.length);
      assert.ok(sa >= 0, `packet ${i} matches a protect policy with an SA (verdict ${sa})`);
      const out = this.stage.encapsulate(this.b, 256, this.pkt.length, sa, pc);
      assert.ok(out >= 0, `packet ${i} encapsulated (drop ${-out})`);
      sent.push(`${d.getUint32(out + 40).toString(16)}/${d.getUint32(out + 44)}`);
    }
    return sent;
  }
}

interface Logged {
  readonly level: string;
  readonly msg: string;
}

function harness(raw: unknown, stateDir = mkdtempSync(join(stateRoot, `h${harnesses++}-`)), markStore?: MarkStore, dp = new RecordingDatapath()) {
  const clock = new ManualClock(5_000);
  const commands = new Map<string, (req: ModuleCommandRequest, rest: string[]) => ModuleStatus | Promise<ModuleStatus>>();
  const collectors = new Map<string, (emit: MetricEmit) => void>();
  const logged: Logged[] = [];
  const logAt = (level: string) => (o: object | string, msg?: string) => logged.push({ level, msg: typeof o === 'string' ? o : msg ?? '' });
  const log: ModuleLogger = { trace: logAt('trace'), debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };
  // The module's routes (route-based tunnels), as the stack would hold them for its origin.
  const routes = new Map<string, RibRoute>();
  const key = (prefix: Uint8Array, len: number) => `${formatIpv6(prefix)}/${len}`;
  const api = {
    clock,
    ipsec: dp,
    routes: () => [...routes.values()],
    addRoute: (r: Omit<RibRoute, 'origin'>) => void routes.set(key(r.prefix, r.prefixLen), { ...r, origin: 'ipsec' }),
    withdrawRoute: (prefix: Uint8Array, len: number) => void routes.delete(key(prefix, len)),
  } as unknown as StackApi;
  const ctx: ModuleContext = {
    api,
    log,
    limited: () => log,
    metrics: {
      gauge: (spec, collect) => void collectors.set(spec.name, collect),
      counter: (spec, collect) => void collectors.set(spec.name, collect),
    },
    commands: { register: (path, handler) => void commands.set(path.join(' '), handler) },
    stateDir,
  };
  const module = markStore === undefined ? new IpsecModule() : new IpsecModule(() => markStore);
  module.start(ctx, config(raw));
  const run = async (cmd: string) => (await commands.get(cmd)!({ command: cmd.split(' ') }, [])) as ModuleStatus;
  const metric = (name: string) => {
    const out: Array<{ labels: object; value: number }> = [];
    collectors.get(name)!((labels, value) => out.push({ labels, value }));
    return out;
  };
  return { clock, dp, module, run, metric, logged, routes, stateDir };
}

function config(raw: unknown): IpsecConfig {
  const r = ipsecSection.schema.safeParse(raw);
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  return r.data as IpsecConfig;
}

const OUT_SA = { spi: 0x1000, direction: 'out', mode: 'tunnel', src: '2001:db8:2::1', dst: '2001:db8:2::20', encryption: 'aes-gcm-128', encKey: KEY_A };
const IN_SA = { spi: 0x2000, direction: 'in', mode: 'tunnel', src: '2001:db8:2::20', dst: '2001:db8:2::1', encryption: 'aes-gcm-128', encKey: KEY_B };
const POLICIES = [
  { direction: 'out', src: '2001:db8:1::/64', dst: '2001:db8:3::/64', sa: 0x1000 },
  { direction: 'in', src: '2001:db8:3::/64', dst: '2001:db8:1::/64', sa: 0x2000 },
];
const H1 = '2001:db8:1::10';
const H3 = '2001:db8:3::30';

/** What the outbound SPD does with a packet from H1's LAN to H3's under the published tables. */
function outboundVerdict(dp: RecordingDatapath): number {
  const stage = dp.stage(0);
  const pkt = ipv6Packet({ src: parseIpv6(H1)!, dst: parseIpv6(H3)!, echoData: 8 });
  const b = new Uint8Array(512);
  b.set(pkt, 128);
  return stage.outbound(b, 128, pkt.length);
}

test('start publishes the SAs (home lane = SPI mod lanes) and the policies pointing at them', () => {
  const { dp } = harness({ sas: [OUT_SA, IN_SA], policies: POLICIES });
  const { sas, policies } = dp.last();
  assert.deepEqual(sas.map((s) => [s.spi, s.inbound, s.tunnel, s.homeLane]), [[0x1000, false, true, 0x1000 % 2], [0x2000, true, true, 0x2000 % 2]]);
  assert.deepEqual(policies.map((p) => p.sa), [0, 1]);
  assert.equal(outboundVerdict(dp), 0, 'the outbound policy selects SA 0');
});

test('a reload that adds an SA keeps the existing SA’s slot and sequence number; a changed SA starts afresh', () => {
  const { dp, module } = harness({ sas: [OUT_SA], policies: [POLICIES[0]] });
  const slot = dp.last().sas[0]!.stateSlot;
  dp.state.f[slot * 16 + ST.seqOut] = 41; // a lane sent 41 packets
  const extra = { ...IN_SA, spi: 0x3000 };
  module.prepareReconfigure(config({ sas: [OUT_SA, extra], policies: [POLICIES[0]] }))();
  const after = dp.last().sas;
  assert.equal(after[0]!.stateSlot, slot);
  assert.equal(dp.state.field(slot, ST.seqOut), 41);
  assert.notEqual(after[1]!.stateSlot, slot);
  module.prepareReconfigure(config({ sas: [{ ...OUT_SA, encKey: KEY_B }], policies: [POLICIES[0]] }))();
  assert.equal(dp.state.field(dp.last().sas[0]!.stateSlot, ST.seqOut), 0, 'new keys, new SA: a fresh sequence number');
});

test('byte lifetimes: soft raises one event, hard removes the SA and its traffic is then discarded', async () => {
  const lifetime = { softBytes: 1000, hardBytes: 2000 };
  const { dp, clock, module, run, metric, logged } = harness({ sas: [{ ...OUT_SA, lifetime }, IN_SA], policies: POLICIES });
  const slot = dp.last().sas[0]!.stateSlot;
  dp.state.f[slot * 16 + ST.bytes] = 1500;
  clock.advance(LIFETIME_CHECK_MS);
  clock.advance(LIFETIME_CHECK_MS);
  assert.equal(metric('ipsec_sa_soft_expirations_total')[0]!.value, 1, 'one soft event, not one per check');
  assert.equal(logged.filter((l) => l.level === 'warn' && l.msg.includes('soft lifetime')).length, 1);
  const shown = (await run('show ipsec sa')).data as Array<{ spi: number; state: string }>;
  assert.equal(shown.find((s) => s.spi === 0x1000)!.state, 'dying');
  assert.equal(dp.last().sas.length, 2, 'still installed');

  dp.state.f[slot * 16 + ST.bytes] = 2000;
  clock.advance(LIFETIME_CHECK_MS);
  assert.equal(metric('ipsec_sa_hard_expirations_total')[0]!.value, 1);
  assert.deepEqual(dp.last().sas.map((s) => s.spi), [0x2000]);
  assert.equal(dp.last().policies[0]!.sa, -1, 'the policy stays, with no SA');
  assert.equal(outboundVerdict(dp), -C.esp_policy_discard, 'protected traffic is discarded, never sent in the clear');
  const policies = (await run('show ipsec policy')).data as Array<{ saInstalled: boolean | null }>;
  assert.deepEqual(policies.map((p) => p.saInstalled), [false, true]);

  // A reload that changes only the other SA does not bring the expired one back…
  module.prepareReconfigure(config({ sas: [{ ...OUT_SA, lifetime }, { ...IN_SA, replayWindow: 128 }], policies: POLICIES }))();
  assert.deepEqual(dp.last().sas.map((s) => s.spi), [0x2000]);
  // …new keys for it do.
  module.prepareReconfigure(config({ sas: [{ ...OUT_SA, lifetime, encKey: KEY_B }, IN_SA], policies: POLICIES }))();
  assert.deepEqual(dp.last().sas.map((s) => s.spi), [0x1000, 0x2000]);
});

test('time lifetimes count from installation', () => {
  const { dp, clock, metric } = harness({ sas: [{ ...OUT_SA, lifetime: { softSeconds: 10, hardSeconds: 20 } }], policies: [POLICIES[0]] });
  clock.advance(9 * LIFETIME_CHECK_MS);
  assert.equal(metric('ipsec_sa_soft_expirations_total')[0]!.value, 0);
  clock.advance(LIFETIME_CHECK_MS);
  assert.equal(metric('ipsec_sa_soft_expirations_total')[0]!.value, 1);
  clock.advance(9 * LIFETIME_CHECK_MS);
  assert.equal(dp.last().sas.length, 1);
  clock.advance(LIFETIME_CHECK_MS);
  assert.equal(dp.last().sas.length, 0);
  assert.equal(metric('ipsec_sas')[0]!.value, 0);
});

test('turtle6_ipsec_sas{state}: an SA past its soft lifetime is dying until new keys replace it (the rekey alert)', () => {
  const lifetime = { softSeconds: 10, hardSeconds: 3600 };
  const { clock, module, metric } = harness({ sas: [{ ...OUT_SA, lifetime }], policies: [POLICIES[0]] });
  const sas = () => Object.fromEntries(metric('ipsec_sas').map((m) => [(m.labels as { state: string }).state, m.value]));
  assert.deepEqual(sas(), { mature: 1, dying: 0 });
  clock.advance(10 * LIFETIME_CHECK_MS);
  assert.deepEqual(sas(), { mature: 0, dying: 1 });
  module.prepareReconfigure(config({ sas: [{ ...OUT_SA, lifetime, encKey: KEY_B }], policies: [POLICIES[0]] }))();
  assert.deepEqual(sas(), { mature: 1, dying: 0 }, 'the rekeyed SA is a new, mature one');
});

test('ipsec flush removes every SA; policies stay and discard; stop empties the tables', async () => {
  const { dp, module, run } = harness({ sas: [OUT_SA, IN_SA], policies: [{ direction: 'out', dst: '2001:db8:9::/64', action: 'bypass' }, ...POLICIES] });
  const r = await run('ipsec flush');
  assert.deepEqual(r.data, { removed: 2 });
  assert.equal(dp.last().sas.length, 0);
  assert.equal(dp.last().policies.length, 3);
  assert.equal(outboundVerdict(dp), -C.esp_policy_discard);
  assert.match((await run('show ipsec sa')).text, /No SAD entries/);
  const text = (await run('show ipsec policy')).text;
  assert.match(text, /2001:db8:9::\/64\[any\] any\n\tout none/);
  assert.match(text, /esp spi=4096\(0x00001000\) \(SA not installed: discards\)/);
  module.stop();
  assert.deepEqual(dp.last(), { sas: [], policies: [] });
  assert.equal(outboundVerdict(dp), ESP_BYPASS);
});

test('show ipsec sa and the per-SA metrics read the lanes’ state block', async () => {
  const { dp, run, metric } = harness({ sas: [OUT_SA, IN_SA], policies: POLICIES });
  const [out, inb] = dp.last().sas;
  dp.state.f[out!.stateSlot * 16 + ST.seqOut] = 7;
  dp.state.f[out!.stateSlot * 16 + ST.packets] = 7;
  dp.state.f[out!.stateSlot * 16 + ST.bytes] = 700;
  dp.state.f[inb!.stateSlot * 16 + ST.replay] = 3;
  const r = await run('show ipsec sa');
  assert.match(r.text, /2001:db8:2::1 2001:db8:2::20\n\tesp mode=tunnel spi=4096\(0x00001000\) dir=out lane=0\n\tE: aes-gcm-128\n\tseq=0x00000007/);
  assert.match(r.text, /current: 700\(bytes\)/);
  assert.doesNotMatch(r.text, /4141/, 'keys are never shown');
  assert.doesNotMatch(JSON.stringify(r.data), /4141/);
  assert.deepEqual(metric('ipsec_sa_packets_total'), [
    { labels: { spi: '0x00001000', direction: 'out' }, value: 7 },
    { labels: { spi: '0x00002000', direction: 'in' }, value: 0 },
  ]);
  const replay = metric('ipsec_sa_drops_total').find((m) => (m.labels as { reason: string; direction: string }).reason === 'replay' && (m.labels as { direction: string }).direction === 'in');
  assert.equal(replay!.value, 3);
});

const TUNNEL = { name: 'to-site3', saOut: 0x1000, saIn: 0x2000, routes: ['2001:db8:3::/64', '2001:db8:33::/48'] };

test('route-based tunnels: the module routes their prefixes into the tunnel and marks its SAs; a reload moves the routes; stop withdraws them', () => {
  const { dp, module, routes } = harness({ sas: [OUT_SA, IN_SA], tunnels: [TUNNEL] });
  assert.deepEqual([...routes.keys()].sort(), ['2001:db8:33::/48', '2001:db8:3::/64']);
  for (const r of routes.values()) {
    assert.equal(r.kind, 'ipsec');
    assert.equal(r.tunnel, 0);
    assert.equal(r.preference, 10);
  }
  assert.deepEqual(dp.last().sas.map((s) => s.routedTunnel), [0, 0]);
  const stage = dp.stage(0);
  assert.equal(stage.tunnelOutSa(0), 0, 'the tunnel’s outbound SA is SA 0');
  assert.equal(stage.routedTunnelOf(1), 0);
  assert.equal(outboundVerdict(dp), ESP_BYPASS, 'no policy: route-based traffic never meets the SPD');

  module.prepareReconfigure(config({ sas: [OUT_SA, IN_SA], tunnels: [{ ...TUNNEL, routes: ['2001:db8:4::/64'], preference: 5 }] }))();
  assert.deepEqual([...routes.keys()], ['2001:db8:4::/64']);
  assert.equal(routes.get('2001:db8:4::/64')!.preference, 5);
  module.stop();
  assert.equal(routes.size, 0);
});

test('a tunnel whose outbound SA reached its hard lifetime keeps its routes and has no SA: its traffic is discarded, not sent in the clear', () => {
  const { dp, clock, module, routes } = harness({ sas: [{ ...OUT_SA, lifetime: { hardSeconds: 2 } }, IN_SA], tunnels: [TUNNEL] });
  clock.advance(2 * LIFETIME_CHECK_MS);
  module.checkLifetimes();
  assert.equal(routes.size, 2);
  const stage = dp.stage(0);
  assert.equal(stage.tunnelOutSa(0), -1);
  assert.equal(stage.routedTunnelOf(0), 0, 'the inbound SA still belongs to the tunnel');
});

test('onExpire: bypass — after the hard lifetime the policy passes its traffic in the clear, says so in show; new keys protect it again', async () => {
  const lifetime = { softBytes: 100, hardBytes: 200, hardSeconds: 30 };
  const policies = [{ ...POLICIES[0], onExpire: 'bypass' }, POLICIES[1]];
  const { dp, clock, module, run, metric, logged } = harness({ sas: [{ ...OUT_SA, lifetime }, IN_SA], policies });
  assert.equal(outboundVerdict(dp), 0, 'protected while the SA lives');
  const slot = dp.last().sas[0]!.stateSlot;
  dp.state.f[slot * 16 + ST.bytes] = 150;
  clock.advance(LIFETIME_CHECK_MS);
  assert.equal(outboundVerdict(dp), 0, 'a soft expiry changes nothing on the wire');
  dp.state.f[slot * 16 + ST.bytes] = 250;
  clock.advance(LIFETIME_CHECK_MS);
  assert.equal(metric('ipsec_sa_hard_expirations_total')[0]!.value, 1);
  assert.equal(logged.filter((l) => l.level === 'warn' && l.msg.includes('hard lifetime and is removed')).length, 1);
  assert.equal(outboundVerdict(dp), ESP_BYPASS, 'the flow now leaves in the clear');
  const rows = (await run('show ipsec policy')).data as Array<{ saInstalled: boolean | null; onExpire: string | null }>;
  assert.deepEqual(rows.map((p) => [p.saInstalled, p.onExpire]), [[false, 'bypass'], [true, 'discard']]);
  assert.match((await run('show ipsec policy')).text, /esp spi=4096\(0x00001000\) \(SA not installed: bypass, in the clear\)/);

  module.prepareReconfigure(config({ sas: [{ ...OUT_SA, lifetime, encKey: KEY_B }, IN_SA], policies }))();
  assert.equal(outboundVerdict(dp), 0, 'a new SA: protected again');
});

test('onExpire is refused on bypass and discard policies, and must be discard or bypass', () => {
  const bad = (policy: object) => ipsecSection.schema.safeParse({ sas: [OUT_SA], policies: [policy] });
  const onBypass = bad({ direction: 'out', action: 'bypass', onExpire: 'bypass' });
  assert.equal(onBypass.success, false);
  assert.match(JSON.stringify(onBypass.error!.issues), /no onExpire on a bypass policy/);
  const unknown = bad({ ...POLICIES[0], onExpire: 'allow' });
  assert.equal(unknown.success, false);
  assert.match(JSON.stringify(unknown.error!.issues), /discard or bypass/);
  assert.equal(config({ sas: [OUT_SA], policies: [POLICIES[0]] }).policies[0]!.onExpire, undefined, 'absent: the RFC 4301 default, discard');
});

/** Encapsulates packets from H1's LAN on lane 0 under the published tables until one is dropped; returns the numbers used and the drop. */
function sendUntilDrop(dp: RecordingDatapath, max: number): { seqs: number[]; drop: number } {
  const stage = dp.stage(0);
  const pkt = ipv6Packet({ src: parseIpv6(H1)!, dst: parseIpv6(H3)!, echoData: 8 });
  const b = new Uint8Array(1024);
  const seqs: number[] = [];
  for (let i = 0; i < max; i++) {
    b.set(pkt, 256);
    const sa = stage.outbound(b, 256, pkt.length);
    const out = stage.encapsulate(b, 256, pkt.length, sa, pc);
    if (out < 0) return { seqs, drop: -out };
    seqs.push(new DataView(b.buffer).getUint32(out + 44));
  }
  return { seqs, drop: 0 };
}

test('outbound sequence numbers across crashes: a restart continues from the durable mark, above every number the lane could use; inbound windows and new keys start afresh', () => {
  const first = harness({ sas: [OUT_SA, IN_SA], policies: POLICIES });
  const [, inb] = first.dp.last().sas;
  first.dp.state.f[inb!.stateSlot * 16 + ST.replayTop] = 77;
  // The lane, with the control plane stalled (no timer runs): it uses what the start reserved, then waits.
  const before = sendUntilDrop(first.dp, 2 * MIN_RESERVATION);
  assert.equal(before.seqs.length, MIN_RESERVATION, 'the first reservation: 2^16 numbers');
  assert.deepEqual([before.seqs[0], before.seqs.at(-1)], [1, MIN_RESERVATION]);
  assert.equal(before.drop, C.esp_seq_reserve_wait);
  const saved = readFileSync(join(first.stateDir, 'sequence.json'), 'utf8');
  assert.deepEqual(Object.values((JSON.parse(saved) as { marks: Record<string, { sa: string; mark: number }> }).marks), [{ sa: '00001000/2001:db8:2::20', mark: MIN_RESERVATION + 1 }], 'one mark, the outbound SA’s');
  assert.doesNotMatch(saved, /4141/, 'keys never reach the disk');

  // kill -9: no stop. The next start goes on from the mark.
  const second = harness({ sas: [OUT_SA, IN_SA], policies: POLICIES }, first.stateDir);
  const [, inb2] = second.dp.last().sas;
  assert.equal(second.dp.state.field(inb2!.stateSlot, ST.replayTop), 0, 'an inbound replay window is not restored');
  const after = sendUntilDrop(second.dp, 10);
  assert.equal(after.seqs[0], MIN_RESERVATION + 1, 'the first number at the mark');
  // A second crash halfway through the second reservation, after the timer reserved more.
  second.clock.advance(RESERVE_CHECK_MS);
  const third = harness({ sas: [OUT_SA], policies: [POLICIES[0]] }, first.stateDir);
  const used = sendUntilDrop(second.dp, 3).seqs.at(-1)!;
  assert.ok(sendUntilDrop(third.dp, 1).seqs[0]! > used, 'never at or below a number the crashed process could still use');
  third.module.stop();

  const rekeyed = harness({ sas: [{ ...OUT_SA, encKey: KEY_B }], policies: [POLICIES[0]] }, first.stateDir);
  assert.equal(sendUntilDrop(rekeyed.dp, 1).seqs[0], 1, 'new keys: a new number space from initialSeq');
  const back = harness({ sas: [OUT_SA], policies: [POLICIES[0]] }, first.stateDir);
  assert.ok(sendUntilDrop(back.dp, 1).seqs[0]! > used, 'the old keys again: their mark was kept');
});

test('the first reservation is durable before the SA is published; if that write fails, the SA can only drop until a check reserves', () => {
  let fail = true;
  const failing: MarkStore = {
    mark: () => null,
    raise: () => {
      if (fail) throw new Error('ENOSPC');
    },
  };
  const started = harness({ sas: [OUT_SA, IN_SA], policies: POLICIES }, undefined, failing);
  assert.equal(started.logged.filter((l) => l.level === 'error' && l.msg.includes('cannot reserve')).length, 1);
  assert.deepEqual(sendUntilDrop(started.dp, 1), { seqs: [], drop: C.esp_seq_reserve_wait });
  fail = false;
  started.clock.advance(RESERVE_CHECK_MS);
  assert.deepEqual(sendUntilDrop(started.dp, 1).seqs, [1]);

  const order: string[] = [];
  const watching: MarkStore = { mark: () => null, raise: () => void order.push('durable write') };
  const publish = RecordingDatapath.prototype.publishIpsec;
  RecordingDatapath.prototype.publishIpsec = function (this: RecordingDatapath, sas, policies) {
    order.push('publish');
    publish.call(this, sas, policies);
  };
  try {
    harness({ sas: [OUT_SA], policies: [POLICIES[0]] }, undefined, watching);
  } finally {
    RecordingDatapath.prototype.publishIpsec = publish;
  }
  assert.deepEqual(order, ['durable write', 'publish']);
});

test('a write that fails on the timer is logged, raises nothing, and the next check reserves', () => {
  let fail = false;
  const marks = new Map<string, number>();
  const store: MarkStore = {
    mark: () => null,
    raise: (ms) => {
      if (fail) throw new Error('EIO');
      for (const m of ms) marks.set(m.sa.dst, m.mark);
    },
  };
  const { dp, clock, logged } = harness({ sas: [OUT_SA], policies: [POLICIES[0]] }, undefined, store);
  assert.equal(sendUntilDrop(dp, 2 * MIN_RESERVATION).seqs.length, MIN_RESERVATION);
  fail = true;
  clock.advance(RESERVE_CHECK_MS);
  assert.equal(logged.filter((l) => l.level === 'error' && l.msg.includes('cannot reserve')).length, 1);
  assert.equal(sendUntilDrop(dp, 1).drop, C.esp_seq_reserve_wait, 'still at the limit');
  fail = false;
  clock.advance(RESERVE_CHECK_MS);
  assert.deepEqual(sendUntilDrop(dp, 1).seqs, [MIN_RESERVATION + 1]);
  assert.ok(marks.get(OUT_SA.dst)! > MIN_RESERVATION + 1);
});

test('without ESN the reservation ends at 2^32: a restart past it leaves the SA spent (seq_overflow), never wrapping; with ESN the same keys go on', async () => {
  const first = harness({ sas: [OUT_SA], policies: [POLICIES[0]] });
  first.dp.state.f[first.dp.last().sas[0]!.stateSlot * 16 + ST.seqOut] = 0xffff_fff0;
  first.clock.advance(RESERVE_CHECK_MS);
  assert.equal(first.dp.state.seqLimit(first.dp.last().sas[0]!.stateSlot), 2 ** 32);
  assert.deepEqual(sendUntilDrop(first.dp, 100), { seqs: Array.from({ length: 15 }, (_, i) => 0xffff_fff1 + i), drop: C.esp_seq_overflow });

  const second = harness({ sas: [OUT_SA], policies: [POLICIES[0]] }, first.stateDir);
  assert.deepEqual(sendUntilDrop(second.dp, 1), { seqs: [], drop: C.esp_seq_overflow });
  const shown = (await second.run('show ipsec sa')).data as Array<{ drops: Record<string, number> }>;
  assert.equal(shown[0]!.drops.seq_overflow, 1);
  const esn = harness({ sas: [{ ...OUT_SA, esn: true }], policies: [POLICIES[0]] }, first.stateDir);
  assert.equal(esn.dp.state.field(esn.dp.last().sas[0]!.stateSlot, ST.seqOut), 0xffff_ffff, 'with ESN it goes on past 2^32');
});

test('a state file of version 1 (last number saved once a second) is read as the mark that version restarted from: saved + 2^16 + 1', () => {
  const dir = mkdtempSync(join(stateRoot, 'v1-'));
  const fingerprint = keyFingerprint(config({ sas: [OUT_SA] }).sas[0]!);
  writeFileSync(join(dir, 'sequence.json'), JSON.stringify({ version: 1, sas: { '00001000/2001:db8:2::20': { fingerprint, seqHi: 1, seqLo: 5 } } }));
  const { dp } = harness({ sas: [{ ...OUT_SA, esn: true }], policies: [POLICIES[0]] }, dir);
  assert.equal(dp.state.field(dp.last().sas[0]!.stateSlot, ST.seqOut), 2 ** 32 + 5 + 2 ** 16);
  assert.equal((JSON.parse(readFileSync(join(dir, 'sequence.json'), 'utf8')) as { version: number }).version, 2, 'rewritten in the new format');
});

test('rekeys under traffic, each while the home lane is mid-batch on the old tables, never send two ESP packets with the same (SPI, sequence number)', async () => {
  // The outbound SPIs are even: home lane 0 of 2 (spi % lanes). Lane 1 stays idle.
  const rekeyed = (spi: number, key: string) => ({ sas: [{ ...OUT_SA, spi, encKey: key }], policies: [{ ...POLICIES[0], sa: spi }] });
  const keys = [KEY_A, KEY_B, '0x' + '43'.repeat(16) + '0a0b0c0d', '0x' + '44'.repeat(16) + '0e0f1011'];
  const dp = new SnapshotDatapath();
  const { module, run } = harness(rekeyed(0x1000, keys[0]!), undefined, undefined, dp);
  const lane = new SnapshotLane(dp, 0);
  const sent: string[] = [];
  lane.batch();
  sent.push(...lane.send(5));
  let spi = 0x1000;
  for (let round = 1; round <= 6; round++) {
    // The lane has started a batch on the current tables; two changes land in the middle of it.
    lane.batch();
    sent.push(...lane.send(2));
    if (round % 2 === 1) {
      // The operator flushes the old SA, then loads the new one.
      await run('ipsec flush');
    } else {
      // Two reloads in quick succession: a rekey, then another.
      spi += 2;
      module.prepareReconfigure(config(rekeyed(spi, keys[spi % keys.length]!)))();
    }
    spi += 2;
    module.prepareReconfigure(config(rekeyed(spi, keys[spi % keys.length]!)))();
    sent.push(...lane.send(3));
    // The next batch binds the new tables: the new SA's packets.
    lane.batch();
    const fresh = lane.send(4);
    assert.ok(fresh.every((p) => p.startsWith(spi.toString(16) + '/')), `round ${round}: the new SA carries the traffic`);
    sent.push(...fresh);
  }
  const seen = new Set<string>();
  const repeated = sent.filter((p) => seen.size === seen.add(p).size);
  assert.deepEqual(repeated, [], 'every (SPI, sequence number) pair is sent once');
  assert.equal(sent.length, 5 + 6 * 9);
});
