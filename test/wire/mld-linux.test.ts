/**
 * MLD codec against the Linux kernel's own messages (test/fixtures/wire/mld-linux-goldens.json,
 * captured by mld-capture.sh and decoded by tshark): each decodes as tshark shows it and
 * re-encodes to the same octets, checksum included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatIpv6 } from '../../src/lib/addr.js';
import { decodeMldMessage, MLD_RECORD_TYPE, type MldMessage } from '../../src/wire/mld.js';
import { encodeIcmpv6Message, icmpv6MessageLength } from '../../src/wire/icmpv6-message.js';
import { ip } from '../helpers/addr.js';

interface GoldenFile {
  readonly packets: Record<string, { readonly frame: number; readonly hex: string }>;
}
const goldens = JSON.parse(readFileSync(new URL('../../../test/fixtures/wire/mld-linux-goldens.json', import.meta.url), 'utf8')) as GoldenFile;
const bytes = (name: string) => Uint8Array.from(Buffer.from(goldens.packets[name]!.hex, 'hex'));
const HOST = ip('fe80::ff:fe00:a101');

function roundTrip(name: string, dst: string): MldMessage {
  const wire = bytes(name);
  const d = decodeMldMessage(wire, 0);
  assert.ok(d.ok, `${name}: ${d.ok ? '' : d.reason}`);
  const out = new Uint8Array(icmpv6MessageLength(d.value));
  encodeIcmpv6Message(d.value, HOST, ip(dst), out, 0);
  assert.equal(Buffer.from(out).toString('hex'), Buffer.from(wire).toString('hex'), `${name} re-encodes exactly`);
  return d.value;
}

const recordsOf = (m: MldMessage) => (m.type === 'mldv2Report' ? m.records.map((r) => `${r.recordType} ${formatIpv6(r.group)} ${r.sources.length}`) : []);

test('Linux MLDv2 State-Change Reports: join (TO_EX {}) and leave (TO_IN {}) of two groups, and a solicited-node join', () => {
  assert.deepEqual(recordsOf(roundTrip('linux_v2_report_join', 'ff02::16')), [`${MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE} ff3e::a2 0`, `${MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE} ff15::a1 0`]);
  assert.deepEqual(recordsOf(roundTrip('linux_v2_report_leave', 'ff02::16')), [`${MLD_RECORD_TYPE.CHANGE_TO_INCLUDE_MODE} ff15::a1 0`, `${MLD_RECORD_TYPE.CHANGE_TO_INCLUDE_MODE} ff3e::a2 0`]);
  assert.deepEqual(recordsOf(roundTrip('linux_v2_report_solicited', 'ff02::16')), [`${MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE} ff02::1:ff00:a101 0`]);
});

test('Linux MLDv1 Report (to the group) and Done (to ff02::2)', () => {
  const report = roundTrip('linux_v1_report', 'ff15::b1');
  assert.equal(report.type, 'mldv1Report');
  assert.equal(formatIpv6((report as { group: Uint8Array }).group), 'ff15::b1');
  const done = roundTrip('linux_v1_done', 'ff02::2');
  assert.equal(done.type, 'mldv1Done');
  assert.equal(formatIpv6((done as { group: Uint8Array }).group), 'ff15::b1');
});
