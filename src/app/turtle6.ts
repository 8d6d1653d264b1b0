#!/usr/bin/env node
/**
 * turtle6: check a config, run the appliance in the foreground, or run the demo lab.
 * The appliance and the lab are loaded on demand, so `turtle6 check` works on a machine
 * that cannot run them (no /dev/net/tun, no native helper).
 */
import { Command } from 'commander';
import { formatConfigError, loadConfigFile, type LoadResult } from '../config/load.js';
import { loadConfigFileOffThread } from '../config/load-off-thread.js';
import type { Config } from '../config/schema.js';

interface ApplianceModule {
  runAppliance(config: Config, options: { configPath: string }): Promise<void>;
}

interface LabModule {
  runLab(action: 'up' | 'down' | 'status', options?: { detach?: boolean }): Promise<void>;
}

/** Imported through a variable, so the compiler does not tie this CLI to modules built separately. */
async function importSibling<T>(name: string): Promise<T> {
  const specifier = `./${name}.js`;
  return (await import(specifier)) as T;
}

function report(loaded: LoadResult): LoadResult {
  if (!loaded.ok) for (const e of loaded.errors) process.stderr.write(`${formatConfigError(e)}\n`);
  return loaded;
}

const program = new Command('turtle6').description('a userspace IPv6 router appliance');

program
  .command('check')
  .description('validate a config file; errors name the file, line, column and path')
  .requiredOption('--config <file>', 'the config file')
  .action((opts: { config: string }) => {
    const loaded = report(loadConfigFile(opts.config));
    if (!loaded.ok) {
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`${opts.config}: OK\n`);
  });

program
  .command('run')
  .description('run the appliance in the foreground (JSON logs on stdout; SIGHUP reloads, SIGTERM stops)')
  .requiredOption('--config <file>', 'the config file')
  .action(async (opts: { config: string }) => {
    // Off the main thread: the appliance lives on, and must not keep the parser's peak heap.
    const loaded = report(await loadConfigFileOffThread(opts.config));
    if (!loaded.ok) {
      process.exitCode = 1;
      return;
    }
    const { runAppliance } = await importSibling<ApplianceModule>('appliance');
    await runAppliance(loaded.config, { configPath: opts.config });
  });

program
  .command('lab')
  .description('build the demo lab in network namespaces and run the appliance in it')
  .argument('[action]', 'up, down or status', 'up')
  .option('--detach', 'with up: leave the lab running in the background and return')
  .action(async (action: string, opts: { detach?: boolean }) => {
    if (action !== 'up' && action !== 'down' && action !== 'status') {
      process.stderr.write(`turtle6 lab: expected up, down or status, found ${JSON.stringify(action)}\n`);
      process.exitCode = 1;
      return;
    }
    const { runLab } = await importSibling<LabModule>('lab');
    await runLab(action, opts.detach === undefined ? {} : { detach: opts.detach });
  });

await program.parseAsync(process.argv);
