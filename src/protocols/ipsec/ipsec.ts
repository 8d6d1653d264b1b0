/**
 * `ipsec`: manual keying, the `setkey` of turtle6. It turns the `ipsec:` config into the
 * SAD/SPD records the lanes read (ipsec/model.ts), publishes them through the StackApi,
 * watches SA lifetimes, and answers `show ipsec sa|policy` and `ipsec flush`.
 *
 * Lifetimes (RFC 4301 §4.4.2.1): byte counts come from the SA state block the home lane
 * writes; time counts from when the SA was installed (setkey's `-lh`/`-ls` addtime). The soft
 * limit raises an event (a warning and a counter) so that a keying daemon could rekey; the
 * hard limit removes the SA. Its policies stay, so the traffic they cover is discarded, never
 * sent in the clear (RFC 4301 §4.4.1: a protect entry has no fallback to cleartext) — unless
 * a policy says `onExpire: bypass`, the operator's explicit choice to fail open.
 *
 * An SA removed by its hard lifetime or by `ipsec flush` stays removed until the config
 * changes it (new keys, a new SPI): a reload that touches another SA must not resurrect it.
 *
 * Route-based tunnels (`ipsec.tunnels`): the module adds each tunnel's routes to the RIB
 * (origin `ipsec`, kind `ipsec`, the tunnel's index), so the FIB sends what they cover into
 * the tunnel's outbound SA. The routes stay when that SA is removed: like a protect policy
 * without its SA, the tunnel then discards rather than letting the traffic fall back to a
 * cleartext route (RFC 4301 §4.4.1).
 *
 * Outbound sequence numbers are never repeated under the same keys, across a reload, a
 * restart or a crash (sequence-store.ts, RFC 4303 §3.3.3): the lanes use only numbers that
 * this module has durably reserved, and an SA installed with unchanged keys continues from
 * their high-water mark.
 */
import type { IpsecDatapath } from '../../shm/datapath.js';
import type { TimerHandle } from '../../lib/clock.js';
import type { IpsecConfig } from '../../config/sections/ipsec.js';
import { ST } from '../../shm/ipsec-tables.js';
import { parsePrefix } from '../../lib/addr.js';
import { SaSlots, policyRecords, saIdentity, saRecords, type InstalledSa } from '../../ipsec/model.js';
import { nativeCryptoAvailable } from '../../ipsec/native-transform.js';
import type { TunnelConfig } from '../../config/sections/ipsec.js';
import type { RibRoute } from '../../stack/rib.js';
import type { ModuleContext, ModuleStatus, ProtocolModule } from '../module.js';
import { FileMarkStore, RESERVE_CHECK_MS, SequenceReserver, type MarkStore } from './sequence-store.js';
import { renderPolicies, renderSas, type PolicyRow, type SaRow } from './show.js';

/** How often lifetimes are checked; the granularity of a seconds lifetime. */
export const LIFETIME_CHECK_MS = 1000;

/** Per-SA drop reasons in the state block, as metric labels and show fields. */
const SA_DROPS = {
  replay: ST.replay,
  integrity: ST.integrity,
  bad_padding: ST.badPadding,
  policy_mismatch: ST.policyMismatch,
  seq_overflow: ST.seqOverflow,
  seq_reserve_wait: ST.seqReserveWait,
} as const;

type SaLifeState = 'mature' | 'dying';

interface LiveSa {
  readonly installed: InstalledSa;
  state: SaLifeState;
}

export class IpsecModule implements ProtocolModule<IpsecConfig> {
  readonly name = 'ipsec';
  private ctx!: ModuleContext;
  private dp!: IpsecDatapath;
  private slots!: SaSlots;
  private sequences!: SequenceReserver;
  private config: IpsecConfig = { sas: [], policies: [], tunnels: [], crypto: 'auto' };
  private live: LiveSa[] = [];
  /** Identities of SAs removed by a hard lifetime or a flush (see the file comment). */
  private readonly removed = new Set<string>();
  private timer: TimerHandle | null = null;
  private reserveTimer: TimerHandle | null = null;
  private softExpirations = 0;
  private hardExpirations = 0;
  private flushes = 0;

  /** `markStore` opens the durable sequence marks of a state directory; tests pass their own. */
  constructor(private readonly markStore: (stateDir: string) => MarkStore = (dir) => new FileMarkStore(dir)) {}

  start(ctx: ModuleContext, config: IpsecConfig): void {
    const dp = ctx.api.ipsec;
    if (dp === undefined) throw new Error('this data path has no ESP tables: the ipsec module cannot run on it');
    this.ctx = ctx;
    this.dp = dp;
    this.slots = SaSlots.of(dp.state, dp);
    this.sequences = new SequenceReserver(dp.state, this.markStore(ctx.stateDir));
    this.apply(config);
    this.registerMetrics();
    ctx.commands.register(['show', 'ipsec', 'sa'], () => this.showSas(), 'the security associations, like setkey -D (keys are not shown)');
    ctx.commands.register(['show', 'ipsec', 'policy'], () => this.showPolicies(), 'the security policies in match order, like setkey -DP');
    ctx.commands.register(['ipsec', 'flush'], () => this.flush(), 'remove every SA, like setkey -F; policies stay, so protected traffic is discarded');
    this.scheduleCheck();
    this.scheduleReserve();
  }

  /** In place: unchanged SAs keep their state slot, so their sequence numbers go on. */
  prepareReconfigure(next: IpsecConfig): () => void {
    return () => {
      const wanted = new Set(next.sas.map(saIdentity));
      for (const id of this.removed) if (!wanted.has(id)) this.removed.delete(id);
      this.apply(next);
    };
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
    this.reserveTimer?.cancel();
    this.reserveTimer = null;
    // Without the module nothing is protected or expected protected: empty tables.
    this.slots.assign([], this.dp.lanes, this.ctx.api.clock.now());
    this.live = [];
    this.dp.publishIpsec([], []);
    for (const r of this.ctx.api.routes()) this.ctx.api.withdrawRoute(r.prefix, r.prefixLen);
  }

  status(): ModuleStatus {
    const data = { crypto: this.cryptoPath(), sas: this.live.length, policies: this.config.policies.length, softExpirations: this.softExpirations, hardExpirations: this.hardExpirations, flushes: this.flushes };
    return { data, text: `ipsec: ${data.crypto} crypto, ${data.sas} SAs, ${data.policies} policies, ${data.softExpirations} soft and ${data.hardExpirations} hard expirations` };
  }

  /** The path the lanes' transforms take: `auto` resolves to the helper when it is built. */
  private cryptoPath(): 'native' | 'node' {
    return this.config.crypto === 'node' || !nativeCryptoAvailable() ? 'node' : 'native';
  }

  /** Test hook and the timer's body: applies soft and hard lifetimes now. */
  checkLifetimes(): void {
    const now = this.ctx.api.clock.now();
    let changed = false;
    for (const sa of [...this.live]) {
      const l = sa.installed.config.lifetime;
      const bytes = this.dp.state.field(sa.installed.slot, ST.bytes);
      const seconds = (now - sa.installed.installedAt) / 1000;
      const over = (limit: number, value: number) => limit > 0 && value >= limit;
      const fields = { spi: hex(sa.installed.config.spi), direction: sa.installed.config.direction, bytes, seconds: Math.floor(seconds) };
      if (over(l.hardBytes, bytes) || over(l.hardSeconds, seconds)) {
        this.hardExpirations++;
        this.ctx.log.warn(fields, 'SA reached its hard lifetime and is removed; its policies now discard, or bypass where onExpire says so (RFC 4301 §4.4.2.1)');
        this.removeSa(sa);
        changed = true;
      } else if (sa.state === 'mature' && (over(l.softBytes, bytes) || over(l.softSeconds, seconds))) {
        sa.state = 'dying';
        this.softExpirations++;
        this.ctx.log.warn(fields, 'SA reached its soft lifetime: rekey it before the hard lifetime removes it');
      }
    }
    if (changed) this.publish();
  }

  private scheduleCheck(): void {
    this.timer = this.ctx.api.clock.setTimer(LIFETIME_CHECK_MS, () => {
      this.checkLifetimes();
      this.scheduleCheck();
    });
  }

  /** Keeps the outbound SAs' reservations ahead of their lanes. */
  private scheduleReserve(): void {
    this.reserveTimer = this.ctx.api.clock.setTimer(RESERVE_CHECK_MS, () => {
      this.reserve();
      this.scheduleReserve();
    });
  }

  /**
   * A failed write must not stop the module or leave a reload half applied: the lanes drop at
   * their limits (they never reuse a number), and the next check tries again.
   */
  private reserve(): void {
    try {
      this.sequences.reserve(this.ctx.api.clock.now());
    } catch (e) {
      this.ctx.limited('ipsec.sequence-reserve').error({ err: (e as Error).message }, 'cannot reserve outbound sequence numbers: packets drop as esp_seq_reserve_wait until a write succeeds');
    }
  }

  private apply(config: IpsecConfig): void {
    // Checked here, where it can fail the start or the reload, rather than in a lane.
    if (config.crypto === 'native' && !nativeCryptoAvailable()) {
      throw new Error('ipsec.crypto is native but native-bindings/build/libt6crypto.so is not built (scripts/build-native.mjs needs gcc and libssl-dev); use auto or node');
    }
    const sas = config.sas.filter((sa) => !this.removed.has(saIdentity(sa)));
    const before = new Map(this.live.map((s) => [s.installed, s.state]));
    // Fails, changing nothing, when the new SAs need slots still quarantined (ipsec/model.ts).
    const installed = this.slots.assign(sas, this.dp.lanes, this.ctx.api.clock.now());
    this.config = config;
    this.live = installed.map((i) => ({ installed: i, state: before.get(i) ?? 'mature' }));
    this.reserveSequences(installed.filter((i) => !before.has(i)));
    this.publish();
    this.installTunnelRoutes(config.tunnels);
  }

  /**
   * Newly installed outbound SAs continue from their keys' high-water mark, and their first
   * reservation is durable before they are published (if that write fails, they are published
   * with nothing reserved, and their lanes drop until a check reserves).
   */
  private reserveSequences(fresh: readonly InstalledSa[]): void {
    const now = this.ctx.api.clock.now();
    for (const sa of fresh) {
      if (sa.config.direction !== 'out') continue;
      const seq = this.sequences.admit(sa, now);
      if (seq !== null) this.ctx.log.info({ spi: hex(sa.config.spi), seq }, 'outbound sequence numbers continue from the reserved high-water mark (RFC 4303 §3.3.3)');
    }
    this.sequences.retain(new Set(this.live.map((s) => s.installed)));
    this.reserve();
  }

  /** Makes the module's routes exactly the tunnels' routes (a reload may move or drop some). */
  private installTunnelRoutes(tunnels: readonly TunnelConfig[]): void {
    const api = this.ctx.api;
    const wanted = tunnelRoutes(tunnels);
    const keep = new Set(wanted.map(routeKey));
    for (const r of api.routes()) if (!keep.has(routeKey(r))) api.withdrawRoute(r.prefix, r.prefixLen);
    for (const r of wanted) api.addRoute(r);
  }

  private removeSa(sa: LiveSa): void {
    this.slots.remove(sa.installed);
    this.removed.add(saIdentity(sa.installed.config));
    this.live = this.live.filter((s) => s !== sa);
    this.sequences.retain(new Set(this.live.map((s) => s.installed)));
  }

  private publish(): void {
    const installed = this.live.map((s) => s.installed);
    this.dp.publishIpsec(saRecords(installed, this.config.tunnels, this.config.crypto), policyRecords(this.config.policies, installed));
  }

  private flush(): ModuleStatus {
    const n = this.live.length;
    for (const sa of [...this.live]) this.removeSa(sa);
    this.flushes++;
    this.publish();
    this.ctx.log.info({ sas: n }, 'ipsec flush: every SA removed');
    return { data: { removed: n }, text: `${n} SAs removed\n` };
  }

  saRows(): SaRow[] {
    const st = this.dp.state;
    return this.live.map(({ installed: i, state }) => {
      const c = i.config;
      const f = (field: number) => st.field(i.slot, field);
      return {
        spi: c.spi,
        direction: c.direction,
        mode: c.mode,
        src: c.src,
        dst: c.dst,
        encryption: c.encryption,
        integrity: c.integrity,
        esn: c.esn,
        replayWindow: c.replayWindow,
        homeLane: i.homeLane,
        state,
        // Outbound: the last number sent; inbound: the highest authenticated one received.
        seq: c.direction === 'out' ? f(ST.seqOut) : f(ST.replayTop),
        packets: f(ST.packets),
        bytes: f(ST.bytes),
        drops: Object.fromEntries(Object.entries(SA_DROPS).map(([k, field]) => [k, f(field)])) as Record<keyof typeof SA_DROPS, number>,
        ageSeconds: Math.floor((this.ctx.api.clock.now() - i.installedAt) / 1000),
        lifetime: c.lifetime,
      };
    });
  }

  policyRows(): PolicyRow[] {
    const installed = new Set(this.live.map((s) => `${s.installed.config.direction}/${s.installed.config.spi}`));
    return this.config.policies.map((p, index) => ({
      index,
      direction: p.direction,
      action: p.action,
      src: p.src,
      dst: p.dst,
      proto: p.proto,
      srcPort: p.srcPort ?? null,
      dstPort: p.dstPort ?? null,
      icmpType: p.icmpType ?? null,
      icmpCode: p.icmpCode ?? null,
      sa: p.sa ?? null,
      saInstalled: p.sa === undefined ? null : installed.has(`${p.direction}/${p.sa}`),
      onExpire: p.action === 'protect' ? (p.onExpire ?? 'discard') : null,
    }));
  }

  private showSas(): ModuleStatus {
    return renderSas(this.saRows());
  }

  private showPolicies(): ModuleStatus {
    return renderPolicies(this.policyRows());
  }

  private registerMetrics(): void {
    const m = this.ctx.metrics;
    const labels = ['spi', 'direction'] as const;
    const each = (fn: (row: SaRow, labels: { spi: string; direction: string }) => void) => {
      for (const row of this.saRows()) fn(row, { spi: hex(row.spi), direction: row.direction });
    };
    // `dying` past its soft lifetime: one that stays dying was not rekeyed (the alert).
    m.gauge({ name: 'ipsec_sas', help: 'Security associations installed, by lifetime state (mature; dying: past the soft lifetime, awaiting a rekey)', labelNames: ['state'] }, (emit) => {
      const dying = this.live.filter((s) => s.state === 'dying').length;
      emit({ state: 'mature' }, this.live.length - dying);
      emit({ state: 'dying' }, dying);
    });
    m.gauge({ name: 'ipsec_policies', help: 'Security policies in the SPD' }, (emit) => emit({}, this.config.policies.length));
    m.counter({ name: 'ipsec_sa_packets_total', help: 'Packets an SA protected (out) or accepted (in)', labelNames: labels }, (emit) => each((r, l) => emit(l, r.packets)));
    m.counter({ name: 'ipsec_sa_bytes_total', help: 'Payload bytes an SA protected (out) or accepted (in)', labelNames: labels }, (emit) => each((r, l) => emit(l, r.bytes)));
    m.counter(
      { name: 'ipsec_sa_drops_total', help: 'Packets of an SA dropped, by reason', labelNames: [...labels, 'reason'] },
      (emit) => each((r, l) => { for (const [reason, n] of Object.entries(r.drops)) emit({ ...l, reason }, n); }),
    );
    m.counter({ name: 'ipsec_sa_soft_expirations_total', help: 'SAs that reached their soft lifetime' }, (emit) => emit({}, this.softExpirations));
    m.counter({ name: 'ipsec_sa_hard_expirations_total', help: 'SAs removed by their hard lifetime' }, (emit) => emit({}, this.hardExpirations));
  }
}

/** The routes into each tunnel, for the RIB (kind `ipsec`, the tunnel's index). */
export function tunnelRoutes(tunnels: readonly TunnelConfig[]): Omit<RibRoute, 'origin'>[] {
  return tunnels.flatMap((t, tunnel) =>
    t.routes.map((r) => {
      const p = parsePrefix(r)!;
      return { prefix: p.addr, prefixLen: p.len, preference: t.preference, metric: 0, kind: 'ipsec' as const, nexthops: [], tunnel };
    }),
  );
}

function routeKey(r: { prefix: Uint8Array; prefixLen: number }): string {
  return `${Buffer.from(r.prefix).toString('hex')}/${r.prefixLen}`;
}

export function hex(spi: number): string {
  return `0x${spi.toString(16).padStart(8, '0')}`;
}
