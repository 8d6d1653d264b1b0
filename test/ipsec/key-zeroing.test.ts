/**
 * Key material is zeroed when its SA goes (docs/ipsec.md, "Secrets"), where that can be
 * observed: the ipsec module's per-SA key copies (SaSlots), the node:crypto transforms' key
 * buffers (dispose), and the shared-memory table snapshots, whose two regions must both stop
 * holding a removed SA's keys once the lanes have moved on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipsecSection, type SaConfig } from '../../src/config/sections/ipsec.js';
import { SaSlots, saRecord, type InstalledSa } from '../../src/ipsec/model.js';
import { NO_LANES } from '../helpers/esp-stage.js';
import { nodeTransform } from '../../src/ipsec/transform.js';
import { encodeIpsecTables, ipsecTablesByteLength, IpsecState, type SaRecord } from '../../src/shm/ipsec-tables.js';
import { SnapshotReader, SnapshotWriter } from '../../src/shm/snapshot.js';

const GCM_KEY = 'c0ffee00112233445566778899aabbccddeeff01';
const OTHER_KEY = '0102030405060708090a0b0c0d0e0f1011121314';
const CBC_KEY = '0f1e2d3c4b5a69788796a5b4c3d2e1f0';
const AUTH_KEY = '5a'.repeat(8) + '1f2e3d4c5b6a7988'.repeat(3);

function sas(...list: Array<{ spi: number; encKey: string }>): SaConfig[] {
  return ipsecSection.schema.parse({
    sas: list.map(({ spi, encKey }) => ({ spi, direction: 'out', src: '2001:db8::1', dst: '2001:db8::2', encryption: 'aes-gcm-128', encKey })),
  })!.sas;
}

const zero = (b: Uint8Array) => b.length > 0 && b.every((x) => x === 0);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('an installed SA has a key copy of its own, zeroed when it is removed, replaced by a reload, or all SAs go', () => {
  const slots = new SaSlots(IpsecState.create(), NO_LANES);
  const config = sas({ spi: 0x1000, encKey: GCM_KEY }, { spi: 0x1001, encKey: GCM_KEY });
  const [a, b] = slots.assign(config, 2, 0) as [InstalledSa, InstalledSa];
  assert.equal(hex(a.encKey), GCM_KEY);
  assert.notEqual(a.encKey.buffer, config[0]!.encKey.bytes.buffer, 'a copy, not the config\'s bytes');
  assert.equal(saRecord(a).encKey, a.encKey, 'the tables are written from the copy');

  slots.remove(a);
  assert.ok(zero(a.encKey), 'removed (hard lifetime, flush): zeroed');
  assert.equal(hex(config[0]!.encKey.bytes), GCM_KEY, 'the running config keeps its key');
  assert.equal(hex(b.encKey), GCM_KEY, 'the other SA is untouched');

  // A reload that rekeys 0x1001 installs a new SA and drops the old one; 0x1002 is new.
  const [rekeyed, added] = slots.assign(sas({ spi: 0x1001, encKey: OTHER_KEY }, { spi: 0x1002, encKey: GCM_KEY }), 2, 0) as [InstalledSa, InstalledSa];
  assert.ok(zero(b.encKey), 'replaced by a reload: zeroed');
  assert.equal(hex(rekeyed.encKey), OTHER_KEY);

  // The same config again keeps both SAs, and their keys.
  const again = slots.assign(sas({ spi: 0x1001, encKey: OTHER_KEY }, { spi: 0x1002, encKey: GCM_KEY }), 2, 0);
  assert.deepEqual(again, [rekeyed, added]);
  assert.equal(hex(rekeyed.encKey), OTHER_KEY);

  slots.assign([], 2, 0);
  assert.ok(zero(rekeyed.encKey) && zero(added.encKey), 'module stopped (no SAs): zeroed');
});

test('a node:crypto transform zeroes its key copies when disposed', () => {
  const gcm = nodeTransform({ encryption: 'aes-gcm-128', integrity: 'none', encKey: Buffer.from(GCM_KEY, 'hex'), authKey: new Uint8Array(0) }, false);
  const g = gcm as unknown as { key: Buffer; nonce: Buffer };
  assert.equal(hex(g.key) + hex(g.nonce.subarray(0, 4)), GCM_KEY);
  gcm.dispose();
  assert.ok(zero(g.key) && zero(g.nonce), 'the AES key and the salt');

  const cbc = nodeTransform({ encryption: 'aes-cbc-128', integrity: 'hmac-sha256-128', encKey: Buffer.from(CBC_KEY, 'hex'), authKey: Buffer.from(AUTH_KEY, 'hex') }, false);
  const c = cbc as unknown as { encKey: Buffer; authKey: Buffer };
  assert.equal(hex(c.encKey) + hex(c.authKey), CBC_KEY + AUTH_KEY);
  cbc.dispose();
  assert.ok(zero(c.encKey) && zero(c.authKey));
});

function record(spi: number, key: string): SaRecord {
  return {
    spi, inbound: false, tunnel: false, esn: false, encryption: 1, integrity: 0, replayWindow: 0, homeLane: 0, stateSlot: 0, uid: spi,
    tunnelSrc: new Uint8Array(16), tunnelDst: new Uint8Array(16), encKey: Buffer.from(key, 'hex'), authKey: new Uint8Array(0),
  };
}

/** Whether either region of the snapshot still holds the first 8 bytes of `key`. */
function regionsHold(writer: SnapshotWriter, key: string): boolean[] {
  return writer.handle.regions.map((r) => Buffer.from(r).indexOf(Buffer.from(key, 'hex').subarray(0, 8)) >= 0);
}

function publishTables(writer: SnapshotWriter, records: SaRecord[]): boolean {
  return writer.publish((dst) => encodeIpsecTables(records, [], dst), ipsecTablesByteLength(records, []));
}

for (const scrub of [true, false]) {
  test(`IPsec snapshot regions ${scrub ? 'lose' : 'without scrub keep'} a removed SA's key once a busy lane moves on`, () => {
    const writer = new SnapshotWriter({ readers: 1, initialBytes: 4096, maxBytes: 1 << 20, scrub });
    const lane = new SnapshotReader(writer.handle, 0);
    lane.acquire();
    // Two SAs, then only the second: the table shrinks, so the removed key sat past its new end too.
    assert.equal(publishTables(writer, [record(0x1000, GCM_KEY), record(0x1001, OTHER_KEY)]), !scrub, 'with scrub the copy waits for the lane');
    lane.acquire();
    writer.flushPending();
    lane.acquire();
    assert.deepEqual(regionsHold(writer, GCM_KEY), scrub ? [true, true] : [false, true]);

    publishTables(writer, [record(0x1001, OTHER_KEY)]);
    for (let i = 0; i < 3; i++) {
      lane.acquire();
      writer.flushPending();
    }
    assert.equal(writer.hasPending(), false);
    assert.deepEqual(regionsHold(writer, GCM_KEY), scrub ? [false, false] : [false, true]);
    assert.deepEqual(regionsHold(writer, OTHER_KEY), [true, true], 'the SA that stays is in both');
  });
}

test('with idle lanes the scrub copy is written at once', () => {
  const writer = new SnapshotWriter({ readers: 2, initialBytes: 4096, maxBytes: 1 << 20, scrub: true });
  assert.equal(publishTables(writer, [record(0x1000, GCM_KEY)]), true);
  assert.equal(writer.generation(), 2, 'the table and its copy');
  assert.equal(publishTables(writer, []), true);
  assert.deepEqual(regionsHold(writer, GCM_KEY), [false, false]);
});
