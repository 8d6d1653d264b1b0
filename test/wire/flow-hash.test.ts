import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv6 } from '../../src/lib/addr.js';
import { flowHash, flowLabel } from '../../src/wire/flow-hash.js';

/** An IPv6 packet with a UDP (or `next`) header right after the fixed header, or behind a Hop-by-Hop header. */
function packet(opts: { label?: number; next?: number; sport?: number; dport?: number; hopByHop?: boolean; src?: string; dst?: string }): Uint8Array {
  const hbh = opts.hopByHop ? 8 : 0;
  const p = new Uint8Array(40 + hbh + 8);
  const label = opts.label ?? 0;
  p[0] = 0x60;
  p[1] = (label >> 16) & 0x0f;
  p[2] = (label >> 8) & 0xff;
  p[3] = label & 0xff;
  p[5] = hbh + 8;
  p[6] = opts.hopByHop ? 0 : (opts.next ?? 17);
  p[7] = 64;
  p.set(parseIpv6(opts.src ?? '2001:db8:1::10')!, 8);
  p.set(parseIpv6(opts.dst ?? '2001:db8:99::1')!, 24);
  if (opts.hopByHop) {
    p[40] = opts.next ?? 17;
    p[41] = 0; // 8 bytes: PadN fills the rest
    p[42] = 1;
    p[43] = 4;
  }
  const u = 40 + hbh;
  p[u] = (opts.sport ?? 1000) >> 8;
  p[u + 1] = (opts.sport ?? 1000) & 0xff;
  p[u + 2] = (opts.dport ?? 9) >> 8;
  p[u + 3] = (opts.dport ?? 9) & 0xff;
  return p;
}

const SEED = 0x5eed1234;
const hash = (p: Uint8Array, seed = SEED) => flowHash(p, 0, p.length, seed);

test('flowLabel reads the 20-bit Flow Label', () => {
  assert.equal(flowLabel(packet({ label: 0xabcde }), 0), 0xabcde);
  assert.equal(flowLabel(packet({}), 0), 0);
});

test('the hash is stable: the same flow hashes alike every time and at any offset', () => {
  const p = packet({ sport: 4242 });
  const shifted = new Uint8Array(p.length + 13);
  shifted.set(p, 13);
  assert.equal(hash(p), hash(packet({ sport: 4242 })));
  assert.equal(flowHash(shifted, 13, p.length, SEED), hash(p));
  assert.notEqual(hash(p, SEED), hash(p, SEED ^ 1), 'the seed takes part');
});

test('without a flow label the ports take part, for UDP, TCP and SCTP, directly or behind Hop-by-Hop', () => {
  for (const next of [17, 6, 132]) {
    for (const hopByHop of [false, true]) {
      const hashes = new Set<number>();
      for (let sport = 1000; sport < 1064; sport++) hashes.add(hash(packet({ next, sport, hopByHop })));
      assert.equal(hashes.size, 64, `64 source ports give 64 hashes (next header ${next}, hop-by-hop ${hopByHop})`);
      assert.notEqual(hash(packet({ next, dport: 1, hopByHop })), hash(packet({ next, dport: 2, hopByHop })), 'destination port');
    }
  }
  // Another upper layer: what follows is not a port, so it does not count.
  assert.equal(hash(packet({ next: 58, sport: 1 })), hash(packet({ next: 58, sport: 2 })));
  assert.notEqual(hash(packet({ next: 58 })), hash(packet({ next: 17 })), 'the next header takes part');
});

test('a non-zero flow label replaces the ports (RFC 6438): same label, same hash; another label, another hash', () => {
  assert.equal(hash(packet({ label: 0x12345, sport: 1000 })), hash(packet({ label: 0x12345, sport: 2000 })));
  assert.notEqual(hash(packet({ label: 0x12345 })), hash(packet({ label: 0x12346 })));
  assert.notEqual(hash(packet({ label: 0x12345 })), hash(packet({ label: 0x12345, src: '2001:db8:1::11' })), 'the addresses still count');
});

test('the addresses take part', () => {
  assert.notEqual(hash(packet({ src: '2001:db8:1::10' })), hash(packet({ src: '2001:db8:1::11' })));
  assert.notEqual(hash(packet({ dst: '2001:db8:99::1' })), hash(packet({ dst: '2001:db8:99::2' })));
});

test('a truncated upper header or Hop-by-Hop header is read no further than the packet', () => {
  // Cut inside the UDP header: the ports are not read, so they do not count.
  assert.equal(flowHash(packet({ hopByHop: true, sport: 1 }), 0, 50, SEED), flowHash(packet({ hopByHop: true, sport: 2 }), 0, 50, SEED));
  // Cut inside the Hop-by-Hop header: what lies past the packet is never read.
  const a = packet({ hopByHop: true, next: 6 });
  const b = packet({ hopByHop: true, next: 17 });
  assert.equal(flowHash(a, 0, 44, SEED), flowHash(b, 0, 44, SEED));
});
