/**
 * The reload transaction (FRR's validate → prepare → apply | abort). The new config has
 * already passed the schema; each participant (a module owning part of the running state)
 * then prepares its change without disturbing the running one. Only when every participant
 * prepared does anything apply, so a rejected reload leaves the running config untouched.
 */
import type { Config } from './schema.js';

/** Thrown by prepare() to refuse a config the schema accepted (a bound port busy, a netns missing). */
export class ConfigRejected extends Error {
  readonly code = 'ERR_CONFIG_REJECTED';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigRejected';
  }
}

export interface PreparedChange {
  /** Human lines for the reload report, e.g. "lan0: mtu 1500 → 1400". */
  readonly describe: string[];
  /** in-place: applied without interrupting the module; restart-module: the module restarts. */
  readonly mode: 'in-place' | 'restart-module';
  apply(): Promise<void>;
  /** Releases whatever prepare() reserved; the running state is as if prepare() never ran. */
  abort(): Promise<void>;
}

export interface ReloadParticipant {
  readonly name: string;
  /** Returns null when the participant has nothing to change; throws (ConfigRejected) to abort the reload. */
  prepare(next: Config, current: Config): Promise<PreparedChange | null>;
}

export interface AppliedChange {
  readonly participant: string;
  readonly mode: PreparedChange['mode'];
  readonly describe: string[];
}

export type ReloadReport =
  | { readonly ok: true; readonly changes: AppliedChange[] }
  | {
      readonly ok: false;
      readonly stage: 'prepare' | 'apply';
      readonly participant: string;
      readonly error: string;
      /** Changes that were applied before the failure (only ever non-empty when stage is 'apply'). */
      readonly applied: AppliedChange[];
      /** Participants whose prepared change was aborted. */
      readonly aborted: string[];
      /** Aborts that themselves failed: that participant may hold resources until restarted. */
      readonly abortErrors: Array<{ readonly participant: string; readonly error: string }>;
    };

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function runReload(participants: readonly ReloadParticipant[], current: Config, next: Config): Promise<ReloadReport> {
  const prepared: Array<{ participant: string; change: PreparedChange }> = [];
  for (const p of participants) {
    let change: PreparedChange | null;
    try {
      change = await p.prepare(next, current);
    } catch (e) {
      const { aborted, abortErrors } = await abortAll(prepared);
      return { ok: false, stage: 'prepare', participant: p.name, error: message(e), applied: [], aborted, abortErrors };
    }
    if (change !== null) prepared.push({ participant: p.name, change });
  }

  const applied: AppliedChange[] = [];
  for (let i = 0; i < prepared.length; i++) {
    const { participant, change } = prepared[i]!;
    try {
      await change.apply();
    } catch (e) {
      // Already-applied changes cannot be taken back here; the rest are released so that no
      // participant is left holding a half-prepared state, and the report says exactly what ran.
      const { aborted, abortErrors } = await abortAll(prepared.slice(i + 1));
      return { ok: false, stage: 'apply', participant, error: message(e), applied, aborted, abortErrors };
    }
    applied.push({ participant, mode: change.mode, describe: change.describe });
  }
  return { ok: true, changes: applied };
}

/** Aborts in reverse order of preparation, like unwinding a stack; an abort failing does not stop the others. */
async function abortAll(
  prepared: ReadonlyArray<{ participant: string; change: PreparedChange }>,
): Promise<{ aborted: string[]; abortErrors: Array<{ participant: string; error: string }> }> {
  const aborted: string[] = [];
  const abortErrors: Array<{ participant: string; error: string }> = [];
  for (const { participant, change } of [...prepared].reverse()) {
    try {
      await change.abort();
    } catch (e) {
      abortErrors.push({ participant, error: message(e) });
    }
    aborted.push(participant);
  }
  return { aborted, abortErrors };
}

export function renderReloadReport(report: ReloadReport): string {
  if (report.ok) {
    if (report.changes.length === 0) return 'reload: no changes';
    const lines = ['reload: applied'];
    for (const c of report.changes) for (const d of c.describe) lines.push(`  ${c.participant} (${c.mode}): ${d}`);
    return lines.join('\n');
  }
  const lines = [`reload failed in ${report.stage} by ${report.participant}: ${report.error}`];
  if (report.stage === 'prepare') lines.push('running config unchanged');
  for (const c of report.applied) lines.push(`  applied before the failure: ${c.participant}`);
  if (report.aborted.length > 0) lines.push(`  aborted: ${report.aborted.join(', ')}`);
  for (const a of report.abortErrors) lines.push(`  abort failed in ${a.participant}: ${a.error}`);
  return lines.join('\n');
}
