/**
 * What every decoder returns: a complete, valid value, or a reason. Decoders never throw on
 * untrusted bytes and never return a half-built object (see STYLE.md, "Notes for TypeScript").
 */
export type Decoded<T> =
  | { readonly ok: true; readonly value: T; readonly length: number }
  | { readonly ok: false; readonly reason: string; readonly offset?: number };

export function ok<T>(value: T, length: number): Decoded<T> {
  return { ok: true, value, length };
}

export function fail<T>(reason: string, offset?: number): Decoded<T> {
  return offset === undefined ? { ok: false, reason } : { ok: false, reason, offset };
}
