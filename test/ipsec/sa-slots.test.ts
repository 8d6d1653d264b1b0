/**
 * SaSlots and the lanes' table generations (docs/ipsec.md, "State slots and table
 * generations"): a freed state slot serves no new SA while a lane may still seal or open with
 * the old SA through it. The lane here is a real SnapshotReader on the real SnapshotWriter
 * the IPsec tables go through (lane-worker.ts acquires once per batch).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SaSlots, saRecord, type InstalledSa, type TableGenerations } from '../../src/ipsec/model.js';
import { IpsecState, MAX_SA_SLOTS, encodeIpsecTables, ipsecTablesByteLength } from '../../src/shm/ipsec-tables.js';
import { SnapshotReader, SnapshotWriter } from '../../src/shm/snapshot.js';
import { ipsecSection, type SaConfig } from '../../src/config/sections/ipsec.js';

function sa(spi: number): SaConfig {
  const key = '0x' + (spi & 0xff).toString(16).padStart(2, '0').repeat(16) + '01020304';
  const r = ipsecSection.schema.safeParse({ sas: [{ spi, direction: 'out', mode: 'tunnel', src: '2001:db8:2::1', dst: '2001:db8:2::20', encryption: 'aes-gcm-128', encKey: key }] });
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  return r.data!.sas[0] as SaConfig;
}

/** The control plane's side: slots over a real snapshot with `lanes` readers. */
function setup(lanes: number) {
  const writer = new SnapshotWriter({ readers: lanes, initialBytes: 4096, maxBytes: 1 << 20, scrub: true });
  const generations: TableGenerations = { ipsecGeneration: () => writer.generation(), lanesPast: (g) => writer.readersPast(g) };
  const slots = new SaSlots(IpsecState.create(), generations);
  const publish = (installed: readonly InstalledSa[]) => {
    const records = installed.map(saRecord);
    writer.publish((dst) => encodeIpsecTables(records, [], dst), ipsecTablesByteLength(records, []));
  };
  const lane = (r: number) => new SnapshotReader(writer.handle, r);
  return { writer, slots, publish, lane };
}

test('a slot freed while a lane still holds the old table generation is not reused until that lane acknowledges a newer one', () => {
  const { slots, publish, lane } = setup(2);
  const busy = lane(0);
  const idle = lane(1);
  const all = Array.from({ length: MAX_SA_SLOTS }, (_, i) => sa(0x100 + i));
  const installed = slots.assign(all, 2, 0);
  publish(installed);
  busy.acquire();
  const old = installed[0]!;

  // Rekey: the first SA is replaced by a new one. The lane is mid-batch on the generation that has the old SA.
  const rekeyed = [...all.slice(1), sa(0x900)];
  assert.throws(() => slots.assign(rekeyed, 2, 0), /no free IPsec state slot for 1 new SAs: 0 free/, 'every slot is in use');
  const without = slots.assign(all.slice(1), 2, 0);
  publish(without);
  assert.equal(slots.quarantined, 1);
  assert.throws(() => slots.assign(rekeyed, 2, 0), /1 freed slots wait for a lane still on an older table generation/, 'the only free slot is the old SA’s, and a lane may still seal with it');
  idle.acquire();
  idle.idle();
  assert.throws(() => slots.assign(rekeyed, 2, 0), /older table generation/, 'the other lane passing through is not enough');

  busy.acquire();
  const after = slots.assign(rekeyed, 2, 0);
  const fresh = after.at(-1)!;
  assert.equal(fresh.config.spi, 0x900);
  assert.equal(fresh.slot, old.slot, 'once the lane has acknowledged the newer generation, the slot is free again');
  assert.equal(slots.quarantined, 0);
  assert.deepEqual(after.slice(0, -1).map((s) => s.slot), without.map((s) => s.slot), 'the other SAs keep their slots');
});

test('an idle lane holds nothing back, but the slot waits for the tables without its SA to be published', () => {
  const { writer, slots, publish, lane } = setup(1);
  const l = lane(0);
  const a = slots.assign([sa(0x801)], 1, 0);
  publish(a);
  l.acquire();
  l.idle();
  slots.assign([], 1, 0);
  assert.equal(writer.readersPast(writer.generation()), false, 'not published yet: the current tables still name the SA');
  publish([]);
  // Every other slot is free; the freed one rejoins the free list behind them.
  const b = slots.assign([sa(0x802)], 1, 0);
  assert.equal(slots.quarantined, 0, 'the idle lane binds the newest tables when it wakes, so the slot left quarantine');
  assert.notEqual(b[0]!.slot, a[0]!.slot);
});

test('slots are handed out never-used first, then the one free the longest (FIFO), not the one just freed', () => {
  const { slots, publish } = setup(1);
  const [a, b] = slots.assign([sa(0x801), sa(0x802)], 1, 0);
  publish([a!, b!]);
  slots.assign([sa(0x802)], 1, 0);
  publish([b!]);
  const [, c] = slots.assign([sa(0x802), sa(0x803)], 1, 0);
  assert.equal(c!.slot, 2, 'a never-used slot, not the one the first SA just left');
  // Every slot in use but the first SA's; then the second SA's is freed too: the one free longer comes back first.
  const many = Array.from({ length: MAX_SA_SLOTS - 3 }, (_, i) => sa(0x100 + i));
  const full = slots.assign([sa(0x802), sa(0x803), ...many], 1, 0);
  publish(full);
  assert.equal(full.at(-1)!.slot, MAX_SA_SLOTS - 1);
  slots.assign([sa(0x803), ...many], 1, 0);
  publish([]);
  const [, , ...again] = slots.assign([sa(0x803), ...many, sa(0x900), sa(0x901)], 1, 0).slice(-4);
  assert.deepEqual(again.map((s) => s.slot), [a!.slot, b!.slot], 'the first SA’s slot was freed first, so it is reused first');
});
