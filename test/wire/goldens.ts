/** Loads the scapy-made goldens (test/fixtures/wire/goldens.json, see generate-goldens.py). */
import { readFileSync } from 'node:fs';

interface GoldenFile {
  readonly provenance: { readonly tool: string; readonly version: string; readonly how: string };
  readonly packets: Record<string, { readonly expression: string; readonly hex: string }>;
}

// Compiled tests run from dist/test/wire; the fixture stays in the source tree.
const path = new URL('../../../test/fixtures/wire/goldens.json', import.meta.url);
export const goldenFile = JSON.parse(readFileSync(path, 'utf8')) as GoldenFile;

export function golden(name: string): Uint8Array {
  const entry = goldenFile.packets[name];
  if (entry === undefined) throw new Error(`no golden named ${name}`);
  return Uint8Array.from(Buffer.from(entry.hex, 'hex'));
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A buffer of `size` bytes filled with 0xa5, so fields an encoder forgets to set show up. */
export function junk(size: number): Uint8Array {
  return new Uint8Array(size).fill(0xa5);
}
