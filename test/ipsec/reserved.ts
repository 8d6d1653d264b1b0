/**
 * SaSlots.assign for the lane tests, with each SA's whole sequence space reserved: they test
 * what the lane does with a number, while the reservation that sets the limit is tested on its
 * own (test/protocols/ipsec/sequence-reserve.test.ts).
 */
import type { SaConfig } from '../../src/config/sections/ipsec.js';
import { SaSlots, type InstalledSa } from '../../src/ipsec/model.js';
import type { IpsecState } from '../../src/shm/ipsec-tables.js';

export function assignReserved(state: IpsecState, sas: readonly SaConfig[], lanes: number): InstalledSa[] {
  const installed = new SaSlots(state).assign(sas, lanes, 0);
  for (const sa of installed) state.setSeqLimit(sa.slot, Number.MAX_SAFE_INTEGER);
  return installed;
}
