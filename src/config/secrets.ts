/**
 * The Secrets in a loaded config (the values of fields marked secret(), fields.ts): carrying
 * them across the loader thread's structured clone, and zeroing the copies nobody needs.
 */
import { Secret } from '../lib/secret.js';

/** A Secret as a structured clone carries it: the clone keeps own fields but drops the class. */
const PACKED = '$secret';

/**
 * Walks plain objects and arrays under `value`; where `replace` returns something for a child,
 * that takes the child's place (and is not walked into).
 */
function replaceWhere(value: unknown, replace: (v: unknown) => unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const node = value as Record<string | number, unknown>;
  for (const key of Object.keys(node)) {
    const r = replace(node[key]);
    if (r === undefined) replaceWhere(node[key], replace);
    else node[key] = r;
  }
}

/** Before postMessage: each Secret becomes `{ $secret: bytes }`, which survives the clone. */
export function packSecrets<T>(value: T): T {
  replaceWhere(value, (v) => (v instanceof Secret ? { [PACKED]: v.bytes } : undefined));
  return value;
}

/** After the clone: the packed Secrets become Secrets again, so they print as <redacted>. */
export function unpackSecrets<T>(value: T): T {
  replaceWhere(value, (v) => {
    const bytes = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[PACKED] : undefined;
    return bytes instanceof Uint8Array ? new Secret(bytes) : undefined;
  });
  return value;
}

export function secretsIn(value: unknown): Secret[] {
  const out: Secret[] = [];
  replaceWhere(value, (v) => {
    if (!(v instanceof Secret)) return undefined;
    out.push(v);
    return v;
  });
  return out;
}

/** Zeroes every Secret of a config that will not run (a `config diff` file, a refused reload). */
export function wipeSecrets(config: unknown): void {
  for (const s of secretsIn(config)) s.wipe();
}

/**
 * After a reload replaced `old` with `next`: zeroes the old config's keys that `next` no longer
 * has. Keys that stay are left alone, since an SA kept across the reload still refers to its
 * old config entry (its key fingerprint saves its sequence number).
 */
export function wipeReplacedSecrets(old: unknown, next: unknown): void {
  const kept = secretsIn(next);
  for (const s of secretsIn(old)) if (!kept.some((k) => k.equals(s))) s.wipe();
}
