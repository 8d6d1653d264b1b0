/**
 * What the ESP interop tests against the scapy peer (peer.py) share: the addresses of the
 * topology, the keys, the config lines for an SA, tshark's esp_sa UAT entry, and the check
 * that scapy is installed.
 *
 *   h1 (2001:db8:1::10) ── lan0 (2001:db8:1::1) ── turtle6 ── lan1 (2001:db8:2::1) ── peer (scapy, 2001:db8:2::20)
 *                                                                                      └─ "behind" 2001:db8:3::1
 */
import { resolve } from 'node:path';
import { run } from '../../helpers/netns.js';
import { ENCRYPTIONS } from '../../../src/ipsec/algorithms.js';

export const PYTHON = '/usr/bin/python3';
export const PEER_PY = resolve('test/interop/scapy-esp/peer.py');
export const ROUTER_MAC = '02:00:5e:00:02:01';
export const ROUTER = '2001:db8:2::1';
export const PEER = '2001:db8:2::20';
export const BEHIND = '2001:db8:3::1';
export const H1 = '2001:db8:1::10';
export const SPI_OUT = 0x1000; // the router sends with it
export const SPI_IN = 0x2000; // the peer sends with it

export interface Keys {
  readonly encryption: 'aes-gcm-128' | 'aes-cbc-128';
  readonly integrity: 'none' | 'hmac-sha256-128';
  readonly out: { enc: string; auth: string };
  readonly in: { enc: string; auth: string };
}

export const GCM: Keys = {
  encryption: 'aes-gcm-128',
  integrity: 'none',
  out: { enc: '4a4b4c4d4e4f505152535455565758590a0b0c0d', auth: '' },
  in: { enc: '5a5b5c5d5e5f606162636465666768691a1b1c1d', auth: '' },
};
export const CBC: Keys = {
  encryption: 'aes-cbc-128',
  integrity: 'hmac-sha256-128',
  out: { enc: '0102030405060708090a0b0c0d0e0f10', auth: 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf' },
  in: { enc: '1112131415161718191a1b1c1d1e1f20', auth: 'c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf' },
};

export interface PeerEvent {
  event: string;
  [k: string]: unknown;
}

export function requireScapy(): void {
  const r = run(PYTHON, ['-c', 'import scapy.layers.ipsec, cryptography']);
  if (r.code !== 0) {
    throw new Error(`this interop test needs scapy and cryptography for ${PYTHON}: apt-get install python3-scapy python3-cryptography (${r.stderr.trim()})`);
  }
}

/** One `ipsec.sas` entry as a YAML flow mapping; `extra` adds keys such as a lifetime. */
export function saYaml(keys: Keys, spi: number, direction: 'in' | 'out', mode: string, src: string, dst: string, k: { enc: string; auth: string }, extra = ''): string {
  return `    - { spi: ${spi}, direction: ${direction}, mode: ${mode}, src: ${src}, dst: ${dst}, encryption: ${keys.encryption}, encKey: "0x${k.enc}", integrity: ${keys.integrity}, authKey: "${k.auth ? `0x${k.auth}` : ''}"${extra ? `, ${extra}` : ''} }\n`;
}

/** tshark's esp_sa UAT entry for one SA (PEERS.md gives the 4.0 syntax). */
export function uat(spi: number, keys: Keys, k: { enc: string; auth: string }): string[] {
  const enc = ENCRYPTIONS[keys.encryption].wireshark;
  const auth = keys.integrity === 'none' ? '"NULL",""' : `"HMAC-SHA-256-128 [RFC4868]","0x${k.auth}"`;
  return ['-o', `uat:esp_sa:"IPv6","*","*","0x${spi.toString(16).padStart(8, '0')}","${enc}","0x${k.enc}",${auth}`];
}
