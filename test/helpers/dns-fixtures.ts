/**
 * The DNS messages captured from BIND 9 and Unbound (test/fixtures/dns/*.hex, made by
 * capture.sh): one hex line per file after `#` comments that say where it came from.
 */
import { readdirSync, readFileSync } from 'node:fs';

// Compiled helpers run from dist/test/helpers; the fixtures stay in the source tree.
const DIR = new URL('../../../test/fixtures/dns/', import.meta.url);

export function dnsFixtureNames(): string[] {
  return readdirSync(DIR).filter((f) => f.endsWith('.hex')).sort();
}

export function dnsFixture(name: string): Uint8Array {
  const text = readFileSync(new URL(name, DIR), 'utf8');
  const hex = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).join('');
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Every captured message. */
export function dnsMessages(): Uint8Array[] {
  return dnsFixtureNames().map(dnsFixture);
}
