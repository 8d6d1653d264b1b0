/**
 * Loading a config file: YAML (with a LineCounter, so every node keeps its position) →
 * the section schemas → either a fully populated Config or a list of errors, each naming
 * the file, line, column and path, what was expected and what was found:
 *
 *   bad.yaml:7:9: interfaces[1].addresses[0]: expected an IPv6 prefix like 2001:db8::1/64, found "2001:db8::zz/64"
 *
 * Schemas only supply the "expected" half (their issue messages); this module finds the
 * YAML node at the issue's path for the position and renders what is there.
 */
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { isSecretPath } from './fields.js';
import { configSchema, type Config } from './schema.js';

export interface ConfigError {
  readonly file: string;
  /** 1-based; 0 when the error is about the file as a whole (it could not be read). */
  readonly line: number;
  readonly column: number;
  /** Like `interfaces[1].addresses[0]`; empty for syntax errors and whole-file errors. */
  readonly path: string;
  readonly message: string;
}

export type LoadResult = { ok: true; config: Config } | { ok: false; errors: ConfigError[] };

export function formatConfigError(e: ConfigError): string {
  const where = e.line > 0 ? `${e.file}:${e.line}:${e.column}` : e.file;
  return e.path === '' ? `${where}: ${e.message}` : `${where}: ${e.path}: ${e.message}`;
}

export function loadConfigFile(path: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code ?? String(e);
    return { ok: false, errors: [{ file: path, line: 0, column: 0, path: '', message: `cannot read the config file (${reason})` }] };
  }
  return loadConfigText(text, path);
}

export function loadConfigText(text: string, fileName: string): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { file: fileName, line, column: col, path: '', message: `YAML syntax error: ${e.message.split('\n')[0]}` };
      }),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 }) ?? undefined;
  } catch (e) {
    // Alias trouble (an alias before its anchor, or an alias bomb) only shows when resolving.
    const { line, col } = lineCounter.linePos(firstAliasOffset(doc));
    return { ok: false, errors: [{ file: fileName, line, column: col, path: '', message: `YAML error: ${(e as Error).message}` }] };
  }
  const knownKeys = new Map<string, string[]>();
  const parsed = configSchema.safeParse(data, { error: (issue) => expectedFor(issue, knownKeys) });
  if (parsed.success) return { ok: true, config: parsed.data };
  const errors: ConfigError[] = [];
  for (const issue of parsed.error.issues) {
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys.get(pathKey(path)) ?? [];
      for (const key of issue.keys) {
        const hint = closest(key, known);
        const expected = `one of ${known.join(', ')}${hint === null ? '' : ` (did you mean "${hint}"?)`}`;
        errors.push(errorAt(doc, lineCounter, fileName, [...path, key], expected, JSON.stringify(key), true));
      }
    } else {
      // A secret field's value is never echoed, valid or not: it may be a key with one typo.
      const found = isSecretPath(configSchema, path) ? 'a value not shown (a secret)' : describeFound(valueAt(data, path));
      errors.push(errorAt(doc, lineCounter, fileName, path, issue.message, found, false));
    }
  }
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  return { ok: false, errors: errors.filter((e, i) => i === 0 || formatConfigError(e) !== formatConfigError(errors[i - 1]!)) };
}

type PathSegment = string | number;

function firstAliasOffset(doc: Document): number {
  let offset = 0;
  visit(doc, {
    Alias(_key, node) {
      offset = node.range?.[0] ?? 0;
      return visit.BREAK;
    },
  });
  return offset;
}

function pathKey(path: readonly PathSegment[]): string {
  return JSON.stringify(path);
}

export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}

/** The "expected" half for zod's built-in issues; schema-level messages take precedence over this. */
function expectedFor(issue: z.core.$ZodRawIssue, knownKeys: Map<string, string[]>): string {
  const path = (issue.path ?? []).map((p) => (typeof p === 'symbol' ? String(p) : p));
  switch (issue.code) {
    case 'invalid_type':
      if (path.length === 0) return 'a mapping of config sections (interfaces is required)';
      return issue.expected === 'object' ? 'a mapping'
        : issue.expected === 'array' ? 'a list'
        : issue.expected === 'boolean' ? 'true or false'
        : `a ${issue.expected}`;
    case 'invalid_value':
      return `one of ${issue.values.map(String).join(', ')}`;
    case 'unrecognized_keys': {
      const shape = (issue.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape;
      knownKeys.set(pathKey(path), shape === undefined ? [] : Object.keys(shape));
      return 'a known key';
    }
    default:
      return 'a valid value';
  }
}

/** Finds the YAML node at `path`, or the deepest existing ancestor when the key is missing. */
function nodeAt(doc: Document, path: readonly PathSegment[], wantKey: boolean): Node | null {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    let next: unknown;
    if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg];
    } else if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair !== undefined) {
        const last = i === path.length - 1;
        const value = pair.value as Node | null;
        // Point at the key when the value is empty (`ra:` has no range of its own) or a
        // collection (a block mapping starts on the next line, away from the key it belongs to).
        const atKey = (last && wantKey) || value === null || (isScalar(value) && value.value === null) || (last && !isScalar(value));
        next = atKey ? pair.key : value;
      }
    }
    if (next === undefined || next === null) break;
    node = next;
  }
  return (node as Node | null) ?? null;
}

function errorAt(
  doc: Document,
  lineCounter: LineCounter,
  file: string,
  path: readonly PathSegment[],
  expected: string,
  found: string,
  atKey: boolean,
): ConfigError {
  const node = nodeAt(doc, path, atKey);
  const offset = node?.range?.[0] ?? 0;
  const { line, col } = lineCounter.linePos(offset);
  return { file, line, column: col, path: formatPath(path), message: `expected ${expected}, found ${found}` };
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

function describeFound(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

/** The known key nearest to a typo, if one is within edit distance 2. */
function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length]!;
}
