/** An ESP stage (src/dataplane/esp.ts) bound to tables built from an `ipsec:` config section, for lane tests. */
import { ipsecSection, type IpsecConfig } from '../../src/config/sections/ipsec.js';
import { SaSlots, saRecord, policyRecords } from '../../src/ipsec/model.js';
import { IpsecState, IpsecView, encodeIpsecTables, ipsecTablesByteLength } from '../../src/shm/ipsec-tables.js';
import { EspStage } from '../../src/dataplane/esp.js';

/** A stage for `raw`, with the SAs whose SPI is in `expired` left out as a hard lifetime leaves them. */
export function espStage(raw: unknown, expired: readonly number[] = []): EspStage {
  const r = ipsecSection.schema.safeParse(raw);
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  const cfg = r.data as IpsecConfig;
  const state = IpsecState.create();
  const installed = new SaSlots(state).assign(cfg.sas.filter((sa) => !expired.includes(sa.spi)), 1, 0);
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
