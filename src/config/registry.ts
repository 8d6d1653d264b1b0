/**
 * The section registry: each top-level config key is defined by one module with
 * defineSection(), and buildConfigSchema() assembles them. A protocol module (ripng,
 * dhcpv6, ipsec…) adds its section by writing one file under sections/ and listing it in
 * sections/index.ts; the loader, the error formatting and the diff stay untouched.
 */
import { z } from 'zod';

export type ReloadMode =
  | { readonly kind: 'in-place' }
  | { readonly kind: 'restart-module'; readonly module: string }
  | { readonly kind: 'restart-appliance' };

export interface SectionDocs {
  /** One line for docs/CONFIG.md and `turtle6 check` help. */
  readonly summary: string;
  /** How a change to this section is applied by a reload (FRR-style: validate, prepare, apply). */
  readonly reload: ReloadMode;
}

/** Cross-section facts a section may check against, computed once from the parsed config. */
export interface CrossCheckContext {
  /** Names of the configured interfaces, for "interface: lan0" references. */
  readonly interfaceNames: ReadonlySet<string>;
  /** The largest MTU of the configured interfaces (1500 with none): it sets the lanes' slot size. */
  readonly largestMtu: number;
  /** Reports a problem at `path` (relative to the section); `expected` is the expected-half of the message. */
  report(path: ReadonlyArray<string | number>, expected: string): void;
}

export interface SectionDefinition<Name extends string, Schema extends z.ZodType> {
  readonly name: Name;
  readonly schema: Schema;
  readonly docs: SectionDocs;
  readonly crossCheck?: (value: z.output<Schema>, ctx: CrossCheckContext) => void;
}

export function defineSection<Name extends string, Schema extends z.ZodType>(
  name: Name,
  schema: Schema,
  docs: SectionDocs,
  crossCheck?: (value: z.output<Schema>, ctx: CrossCheckContext) => void,
): SectionDefinition<Name, Schema> {
  return crossCheck === undefined ? { name, schema, docs } : { name, schema, docs, crossCheck };
}

type AnySection = SectionDefinition<string, z.ZodType>;

type ShapeOf<Sections extends readonly AnySection[]> = {
  [S in Sections[number] as S['name']]: S['schema'];
};

/** The whole-file schema: a strict object of every section, with cross-section checks run last. */
export function buildConfigSchema<const Sections extends readonly AnySection[]>(sections: Sections) {
  const shape: Record<string, z.ZodType> = {};
  for (const s of sections) shape[s.name] = s.schema;
  return z.strictObject(shape as ShapeOf<Sections>).superRefine((parsed, ctx) => {
    // Cross checks read other sections' resolved values, which exist only once every section
    // parsed cleanly; until then the operator has more basic errors to fix first.
    if (ctx.issues.length > 0) return;
    const values = parsed as Record<string, unknown>;
    const interfaces = values['interfaces'];
    const interfaceNames = new Set<string>(
      Array.isArray(interfaces) ? interfaces.map((i: { name: string }) => i.name) : [],
    );
    const largestMtu = Array.isArray(interfaces) ? Math.max(1500, ...interfaces.map((i: { mtu: number }) => i.mtu)) : 1500;
    for (const s of sections) {
      if (s.crossCheck === undefined) continue;
      s.crossCheck(values[s.name], {
        interfaceNames,
        largestMtu,
        report: (path, expected) => ctx.addIssue({ code: 'custom', message: expected, path: [s.name, ...path] }),
      });
    }
  });
}
