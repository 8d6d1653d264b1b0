/**
 * The naive longest-prefix-match model the FIB is tested and benchmarked against: a linear scan
 * over every route, the longest matching length winning and, for the same prefix, the later
 * route (the FIB's documented rule for duplicates).
 */
import { prefixMatch } from '../../src/lib/addr.js';
import type { FibRoute } from '../../src/shm/fib.js';

export function naiveLookup(routes: readonly FibRoute[], addr: Uint8Array, offset = 0): number {
  let best = -1;
  let bestLen = -1;
  for (const r of routes) {
    if (r.len >= bestLen && prefixMatch(r.prefix, 0, addr, offset, r.len)) {
      best = r.nexthop;
      bestLen = r.len;
    }
  }
  return best;
}
