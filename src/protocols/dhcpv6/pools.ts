/**
 * Address (IA_NA) and prefix (IA_PD) pools. Addresses are handled as 128-bit bigints so a
 * pool can be any range; allocation walks a cursor past addresses in use, which keeps the
 * common case (a fresh pool filling up) O(1) per lease.
 */
import { addressToBigInt, bigIntToAddress, formatIpv6, parseIpv6, parsePrefix } from '../../lib/addr.js';

export interface Pool {
  readonly name: string;
  readonly kind: 'na' | 'pd';
  /** 128 for addresses, the delegated length for prefixes. */
  readonly prefixLen: number;
  readonly size: bigint;
  contains(address: string, prefixLen: number): boolean;
  /** The first free entry at or after the cursor, or null when every one is in use. */
  allocate(inUse: (address: string) => boolean): string | null;
}

export function addressPool(name: string, start: string, end: string): Pool {
  const lo = addressToBigInt(parseIpv6(start)!);
  const hi = addressToBigInt(parseIpv6(end)!);
  return rangePool(name, 'na', 128, lo, hi - lo + 1n, 1n);
}

export function prefixPool(name: string, prefix: string, delegatedLength: number): Pool {
  const p = parsePrefix(prefix)!;
  const step = 1n << BigInt(128 - delegatedLength);
  return rangePool(name, 'pd', delegatedLength, addressToBigInt(p.addr), 1n << BigInt(delegatedLength - p.len), step);
}

function rangePool(name: string, kind: 'na' | 'pd', prefixLen: number, base: bigint, size: bigint, step: bigint): Pool {
  let cursor = 0n;
  return {
    name,
    kind,
    prefixLen,
    size,
    contains(address, len) {
      if (len !== prefixLen) return false;
      const a = parseIpv6(address);
      if (a === null) return false;
      const offset = addressToBigInt(a) - base;
      return offset >= 0n && offset < size * step && offset % step === 0n;
    },
    allocate(inUse) {
      for (let tried = 0n; tried < size; tried++) {
        const candidate = formatIpv6(bigIntToAddress(base + ((cursor + tried) % size) * step));
        if (!inUse(candidate)) {
          cursor = (cursor + tried + 1n) % size;
          return candidate;
        }
      }
      return null;
    },
  };
}
