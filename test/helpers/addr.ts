/** Address literals for unit tests: parse, or fail the test on a typo instead of passing null along. */
import { parseIpv6, parseMac } from '../../src/lib/addr.js';

export function ip(text: string): Uint8Array {
  const a = parseIpv6(text);
  if (a === null) throw new Error(`bad test address ${text}`);
  return a;
}

export function mac(text: string): Uint8Array {
  const m = parseMac(text);
  if (m === null) throw new Error(`bad test MAC ${text}`);
  return m;
}
