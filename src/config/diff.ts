/**
 * What changed between two configs, for `turtle6ctl config diff FILE` and reload logs.
 * Lists of named things (interfaces by name, routes by prefix) are matched by that key, so
 * inserting an interface at the top reads as one addition, not as every entry changing.
 * Secrets are compared by their bytes and shown as <redacted>: a changed key reads
 * `~ ipsec.sas[0].encKey: "<redacted>" → "<redacted>"`.
 */
import { Secret } from '../lib/secret.js';
import type { Config } from './schema.js';

export interface ConfigChange {
  /** Like `interfaces[lan0].ra.maxInterval` or `routes[2001:db8:100::/48]`. */
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly before?: unknown;
  readonly after?: unknown;
}

export function diffConfig(oldCfg: Config, newCfg: Config): ConfigChange[] {
  const out: ConfigChange[] = [];
  diffValue('', oldCfg, newCfg, out);
  return out;
}

/** One line per change: `+` added, `-` removed, `~` changed (before → after). */
export function renderConfigDiff(changes: readonly ConfigChange[]): string {
  if (changes.length === 0) return 'no changes';
  return changes
    .map((c) =>
      c.kind === 'added' ? `+ ${c.path}: ${show(c.after)}`
        : c.kind === 'removed' ? `- ${c.path}: ${show(c.before)}`
        : `~ ${c.path}: ${show(c.before)} → ${show(c.after)}`,
    )
    .join('\n');
}

function show(v: unknown): string {
  return JSON.stringify(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** The identity of a list entry, when every entry has one: its `name`, else its `prefix`. */
function entryKey(list: readonly unknown[]): ((v: unknown) => string) | null {
  for (const field of ['name', 'prefix']) {
    if (list.every((v) => isRecord(v) && typeof v[field] === 'string')) return (v) => (v as Record<string, string>)[field]!;
  }
  return null;
}

function diffValue(path: string, before: unknown, after: unknown, out: ConfigChange[]): void {
  if (before instanceof Secret && after instanceof Secret) {
    if (!before.equals(after)) out.push({ path, kind: 'changed', before, after });
  } else if (Array.isArray(before) && Array.isArray(after)) {
    diffList(path, before, after, out);
  } else if (isRecord(before) && isRecord(after)) {
    for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const p = join(path, key);
      if (!(key in after)) out.push({ path: p, kind: 'removed', before: before[key] });
      else if (!(key in before)) out.push({ path: p, kind: 'added', after: after[key] });
      else diffValue(p, before[key], after[key], out);
    }
  } else if (JSON.stringify(before) !== JSON.stringify(after)) {
    out.push({ path, kind: 'changed', before, after });
  }
}

function diffList(path: string, before: readonly unknown[], after: readonly unknown[], out: ConfigChange[]): void {
  const key = entryKey([...before, ...after]);
  if (key !== null) {
    const oldByKey = new Map(before.map((v) => [key(v), v] as const));
    const newByKey = new Map(after.map((v) => [key(v), v] as const));
    for (const [k, v] of oldByKey) if (!newByKey.has(k)) out.push({ path: `${path}[${k}]`, kind: 'removed', before: v });
    for (const [k, v] of newByKey) {
      const old = oldByKey.get(k);
      if (old === undefined) out.push({ path: `${path}[${k}]`, kind: 'added', after: v });
      else diffValue(`${path}[${k}]`, old, v, out);
    }
    return;
  }
  if ([...before, ...after].every((v) => typeof v !== 'object' || v === null)) {
    // Lists of scalars (addresses, DNS servers) are sets to the operator: report members.
    const oldSet = new Set(before.map(show));
    const newSet = new Set(after.map(show));
    for (const v of before) if (!newSet.has(show(v))) out.push({ path, kind: 'removed', before: v });
    for (const v of after) if (!oldSet.has(show(v))) out.push({ path, kind: 'added', after: v });
    return;
  }
  for (let i = 0; i < Math.max(before.length, after.length); i++) {
    const p = `${path}[${i}]`;
    if (i >= after.length) out.push({ path: p, kind: 'removed', before: before[i] });
    else if (i >= before.length) out.push({ path: p, kind: 'added', after: after[i] });
    else diffValue(p, before[i], after[i], out);
  }
}
