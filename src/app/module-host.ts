/**
 * Runs the protocol modules (modules.ts): builds each one's context (StackApi with its route
 * origin, loggers, metrics, commands, state directory), starts the enabled ones, and takes
 * part in reloads: a module whose config changed is reconfigured in place, or, when it says
 * at prepare time that it cannot be, stopped and started again on its own.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Config } from '../config/schema.js';
import type { PreparedChange, ReloadParticipant } from '../config/reload.js';
import type { Stack } from '../stack/stack.js';
import { moduleLogger, type Logger, type RateLimitedLog } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { MetricEmit, ModuleContext, ModuleMetrics, ProtocolModule } from '../protocols/module.js';
import type { ControlServer } from './control.js';
import type { ModuleEntry } from './modules.js';

interface Running {
  readonly entry: ModuleEntry<unknown>;
  module: ProtocolModule<unknown>;
  config: unknown;
}

/**
 * Metrics for modules: a module that restarts registers its series again; the registry keeps
 * the first registration and the adapter points it at the new collector.
 */
class MetricsAdapter implements ModuleMetrics {
  private readonly collectors = new Map<string, (emit: MetricEmit) => void>();

  constructor(private readonly metrics: Metrics) {}

  gauge(spec: { name: string; help: string; labelNames?: readonly string[] }, collect: (emit: MetricEmit) => void): void {
    this.register(spec, collect, (s, c) => this.metrics.gauge(s, c));
  }

  counter(spec: { name: string; help: string; labelNames?: readonly string[] }, collect: (emit: MetricEmit) => void): void {
    this.register(spec, collect, (s, c) => this.metrics.counter(s, c));
  }

  private register(
    spec: { name: string; help: string; labelNames?: readonly string[] },
    collect: (emit: MetricEmit) => void,
    create: (s: { name: string; help: string; labelNames: readonly string[] }, c: (emit: MetricEmit) => void) => unknown,
  ): void {
    const known = this.collectors.has(spec.name);
    this.collectors.set(spec.name, collect);
    if (!known) create({ ...spec, labelNames: spec.labelNames ?? [] }, (emit) => this.collectors.get(spec.name)!(emit));
  }
}

export class ModuleHost {
  private readonly running = new Map<string, Running>();
  private readonly metrics: MetricsAdapter;

  constructor(
    private readonly entries: readonly ModuleEntry<unknown>[],
    private readonly stack: Stack,
    private readonly root: Logger,
    private readonly limitedLog: RateLimitedLog,
    metrics: Metrics,
    private readonly control: ControlServer,
    private readonly stateDir: string,
  ) {
    this.metrics = new MetricsAdapter(metrics);
  }

  async startAll(config: Config): Promise<void> {
    for (const entry of this.entries) {
      const c = entry.config(config);
      if (c !== null) await this.start(entry, c);
    }
  }

  async stopAll(): Promise<void> {
    for (const name of [...this.running.keys()].reverse()) await this.stop(name);
  }

  module(name: string): ProtocolModule<unknown> | undefined {
    return this.running.get(name)?.module;
  }

  private context(entry: ModuleEntry<unknown>): ModuleContext {
    const dir = join(this.stateDir, entry.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return {
      api: this.stack.api(entry.name),
      log: moduleLogger(this.root, entry.name),
      limited: (kind) => this.limitedLog.limited(kind),
      metrics: this.metrics,
      commands: {
        register: (path, handler, help) =>
          this.control.register(path, async (req, rest) => handler({ command: req.command, ...(req.args ? { args: req.args } : {}) }, rest), help),
      },
      stateDir: dir,
    };
  }

  private async start(entry: ModuleEntry<unknown>, config: unknown): Promise<void> {
    const module = entry.create();
    await module.start(this.context(entry), config);
    this.running.set(entry.name, { entry, module, config });
  }

  private async stop(name: string): Promise<void> {
    const r = this.running.get(name);
    if (!r) return;
    this.running.delete(name);
    await r.module.stop();
  }

  /** The reload participant: per module, start, stop, reconfigure in place, or restart. */
  participant(reopenedPorts: () => ReadonlySet<string> = () => new Set()): ReloadParticipant {
    return {
      name: 'modules',
      prepare: async (next: Config): Promise<PreparedChange | null> => {
        const steps: Array<{ describe: string; restart: boolean; run: () => Promise<void> }> = [];
        const restart = (entry: ModuleEntry<unknown>, wanted: unknown) => async () => {
          await this.stop(entry.name);
          await this.start(entry, wanted);
        };
        for (const entry of this.entries) {
          const wanted = entry.config(next);
          const current = this.running.get(entry.name);
          // A port this reload opens or closes (added, removed, restarted) is a new port to
          // a module running on it: the module starts again on the ports as they are now.
          const onReopened = current !== undefined && wanted !== null
            && [...(entry.interfaces?.(current.config) ?? []), ...(entry.interfaces?.(wanted) ?? [])].filter((n) => reopenedPorts().has(n));
          if (current === undefined && wanted !== null) {
            steps.push({ describe: `${entry.name}: start`, restart: true, run: () => this.start(entry, wanted) });
          } else if (current !== undefined && wanted === null) {
            steps.push({ describe: `${entry.name}: stop`, restart: true, run: () => this.stop(entry.name) });
          } else if (onReopened !== false && onReopened.length > 0) {
            steps.push({ describe: `${entry.name}: restart (it runs on ${[...new Set(onReopened)].join(', ')}, reopened)`, restart: true, run: restart(entry, wanted) });
          } else if (current !== undefined && !isDeepStrictEqual(current.config, wanted)) {
            // The module decides now, so the report says what apply will do.
            const inPlace = current.module.prepareReconfigure(wanted);
            if (inPlace !== null) {
              steps.push({
                describe: `${entry.name}: reconfigure in place`,
                restart: false,
                run: async () => {
                  await inPlace();
                  current.config = wanted;
                },
              });
            } else {
              steps.push({
                describe: `${entry.name}: restart (its new config does not apply in place)`,
                restart: true,
                run: async () => {
                  this.root.info({ module: entry.name }, 'module restarts to apply its new config');
                  await restart(entry, wanted)();
                },
              });
            }
          }
        }
        if (steps.length === 0) return null;
        return {
          describe: steps.map((s) => s.describe),
          mode: steps.some((s) => s.restart) ? 'restart-module' : 'in-place',
          apply: async () => {
            for (const s of steps) await s.run();
          },
          abort: async () => {},
        };
      },
    };
  }
}
