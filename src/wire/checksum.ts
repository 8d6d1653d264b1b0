/**
 * The Internet checksum (RFC 1071) and the IPv6 pseudo-header (RFC 8200 §8.1).
 *
 * Fast-path code: free functions over (bytes, offset), no allocation. Sums are plain JS
 * numbers (exact up to 2^53), so carries are folded once at the end rather than per word.
 */

/**
 * One's-complement sum of `len` bytes at `off`, added to `initial`, folded to 16 bits but
 * not complemented, so sums of several ranges chain through `initial`. An odd trailing
 * byte is padded with a zero octet on the right (RFC 1071 §4.1).
 */
export function onesComplementSum(bytes: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + len;
  let i = off;
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return foldSum(sum);
}

/** Folds a sum to 16 bits (end-around carry) without complementing it. */
function foldSum(sum: number): number {
  // Division rather than >>> because a long chained sum can exceed 32 bits.
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/**
 * The checksum field value for a sum: folded and complemented. Verifying a range that
 * already contains its checksum yields 0 when it is correct.
 */
export function foldChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/**
 * Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit upper-layer
 * length and the next header value (the upper-layer protocol, not an extension header).
 * When a Routing header is present, `dstOff` must point at the final destination.
 */
export function ipv6PseudoHeaderSum(
  bytes: Uint8Array,
  srcOff: number,
  dstOff: number,
  upperLength: number,
  nextHeader: number,
): number {
  let sum = onesComplementSum(bytes, srcOff, 16);
  sum = onesComplementSum(bytes, dstOff, 16, sum);
  return foldSum(sum + Math.floor(upperLength / 0x10000) + (upperLength & 0xffff) + nextHeader);
}

/**
 * Checksum field value for the upper-layer message at `upperOff` of the IPv6 packet at
 * `ipOff`, with the checksum field itself counted as it currently is: write 0 there first
 * to compute, or leave the received value to verify (result 0 means valid).
 */
export function upperLayerChecksum(
  bytes: Uint8Array,
  ipOff: number,
  upperOff: number,
  upperLen: number,
  nextHeader: number,
): number {
  const pseudo = ipv6PseudoHeaderSum(bytes, ipOff + 8, ipOff + 24, upperLen, nextHeader);
  return foldChecksum(onesComplementSum(bytes, upperOff, upperLen, pseudo));
}
