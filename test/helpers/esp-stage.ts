/** An ESP stage (src/dataplane/esp.ts) bound to tables built from an `ipsec:` config section, for lane tests. */
import { ipsecSection, type IpsecConfig, type SaConfig } from '../../src/config/sections/ipsec.js';
import { SaSlots, saRecord, policyRecords, type InstalledSa, type TableGenerations } from '../../src/ipsec/model.js';
import { IpsecState, IpsecView, encodeIpsecTables, ipsecTablesByteLength } from '../../src/shm/ipsec-tables.js';
import { EspStage } from '../../src/dataplane/esp.js';

/** Table generations with no lane behind them: a freed slot is free again at once. */
export const NO_LANES: TableGenerations = { ipsecGeneration: () => 0, lanesPast: () => true };

/**
 * SaSlots.assign for the lane tests, with each SA's whole sequence space reserved: they test
 * what the lane does with a number, while the reservation that sets the limit is tested on its
 * own (test/protocols/ipsec/sequence-reserve.test.ts).
 */
export function assignReserved(state: IpsecState, sas: readonly SaConfig[], lanes: number): InstalledSa[] {
  const installed = new SaSlots(state, NO_LANES).assign(sas, lanes, 0);
  for (const sa of installed) state.setSeqLimit(sa.slot, Number.MAX_SAFE_INTEGER);
  return installed;
}

/** A stage for `raw`, with the SAs whose SPI is in `expired` left out as a hard lifetime leaves them. */
export function espStage(raw: unknown, expired: readonly number[] = []): EspStage {
  const r = ipsecSection.schema.safeParse(raw);
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  const cfg = r.data as IpsecConfig;
  const state = IpsecState.create();
  const installed = assignReserved(state, cfg.sas.filter((sa) => !expired.includes(sa.spi)), 1);
  const sas = installed.map(saRecord);
  const policies = policyRecords(cfg.policies, installed);
  const region = new Uint8Array(ipsecTablesByteLength(sas, policies));
  encodeIpsecTables(sas, policies, region);
  const view = new IpsecView();
  view.bind(region, 0);
  const s = new EspStage(state, 0);
  s.bind(view);
  return s;
}

const ROUTER = '2001:db8:2::1';
const PEER = '2001:db8:2::20';
const KEY_OUT = '0x' + '41'.repeat(16) + '01020304';
const KEY_IN = '0x' + '42'.repeat(16) + '05060708';
const COMMON = { mode: 'tunnel', encryption: 'aes-gcm-128' };

/**
 * The ESP tunnel of the lane tests (test/dataplane/harness.ts topology): H1's LAN
 * (2001:db8:1::/64) ⇄ H3's LAN (2001:db8:3::/64) between the router (2001:db8:2::1) and H2
 * (2001:db8:2::20), SPI 0x1000 outbound and 0x2000 inbound as the router sees them. The
 * peer's side has every direction turned round.
 */
export function h1h3Tunnel(side: 'router' | 'peer', onExpire?: 'discard' | 'bypass'): unknown {
  const dir = (d: 'in' | 'out') => (side === 'router' ? d : d === 'in' ? 'out' : 'in');
  const expire = onExpire === undefined ? {} : { onExpire };
  return {
    sas: [
      { spi: 0x1000, direction: dir('out'), src: ROUTER, dst: PEER, encKey: KEY_OUT, ...COMMON },
      { spi: 0x2000, direction: dir('in'), src: PEER, dst: ROUTER, encKey: KEY_IN, ...COMMON },
    ],
    policies: [
      { direction: dir('out'), src: '2001:db8:1::/64', dst: '2001:db8:3::/64', sa: 0x1000, ...expire },
      { direction: dir('in'), src: '2001:db8:3::/64', dst: '2001:db8:1::/64', sa: 0x2000, ...expire },
    ],
  };
}
