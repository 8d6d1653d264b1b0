/** pcap.ts output is readable by tshark, for both link types the trace will use. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PCAP_GLOBAL_HEADER_LEN, PCAP_RECORD_HEADER_LEN, PcapWriter } from '../../src/wire/pcap.js';
import { requireCommand, runOk } from '../helpers/netns.js';
import { golden } from './goldens.js';

function capture(linkType: number, packets: Uint8Array[], snapLen?: number): Buffer {
  const chunks: Uint8Array[] = [];
  const w = new PcapWriter((c) => chunks.push(c), linkType, snapLen);
  packets.forEach((p, i) => {
    const framed = new Uint8Array(p.length + 3).fill(0xa5);
    framed.set(p, 3);
    w.write(framed, 3, p.length, 1_700_000_000_000 + i * 1.5);
  });
  return Buffer.concat(chunks);
}

test('file layout: global header, then a record header per packet, truncated to the snap length', () => {
  const pkt = golden('nd_ns');
  const file = capture(LINKTYPE_RAW, [pkt], 40);
  assert.equal(file.length, PCAP_GLOBAL_HEADER_LEN + PCAP_RECORD_HEADER_LEN + 40);
  assert.equal(file.readUInt32BE(0), 0xa1b2c3d4);
  assert.equal(file.readUInt32BE(16), 40, 'snap length');
  assert.equal(file.readUInt32BE(20), LINKTYPE_RAW);
  assert.equal(file.readUInt32BE(24), 1_700_000_000, 'seconds');
  assert.equal(file.readUInt32BE(32), 40, 'captured length');
  assert.equal(file.readUInt32BE(36), pkt.length, 'original length');
  assert.deepEqual(new Uint8Array(file.subarray(40)), pkt.subarray(0, 40));
});

test('tshark reads Ethernet and raw IPv6 captures', () => {
  requireCommand('tshark', 'tshark');
  const dir = mkdtempSync(join(tmpdir(), 't6-pcap-'));
  try {
    const eth = join(dir, 'eth.pcap');
    writeFileSync(eth, capture(LINKTYPE_ETHERNET, [golden('ethernet_ns')]));
    const ethOut = runOk('tshark', ['-r', eth, '-T', 'fields', '-e', 'eth.src', '-e', 'icmpv6.nd.ns.target_address']);
    assert.equal(ethOut.trim(), '02:00:00:00:00:01\t2001:db8::2');

    const raw = join(dir, 'raw.pcap');
    writeFileSync(raw, capture(LINKTYPE_RAW, [golden('echo_request'), golden('udp')]));
    const rawOut = runOk('tshark', ['-r', raw, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'ipv6.dst']);
    const rows = rawOut.trim().split('\n').map((l) => l.split('\t'));
    assert.equal(rows.length, 2);
    assert.equal(rows[0]![1], '2001:db8::2');
    assert.equal(Number(rows[1]![0]).toFixed(4), '1700000000.0015');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
