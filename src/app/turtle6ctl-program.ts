/**
 * turtle6ctl's commands and options (the binary is turtle6ctl.ts): the operator's client for
 * the control socket (birdc/vtysh style). Each command sends its words to the running
 * appliance and prints the answer's text, or its data as JSON with --json. Exit codes: 0 ok,
 * 1 the appliance refused or failed, 2 not running. A module of its own, so a test can load
 * the whole client first and run it after dropping privileges. With no command it opens the
 * interactive shell (turtle6ctl-shell.ts), which runs each line through a fresh program of
 * this same function.
 */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { answerTimeoutMs, ControlClient, ControlUnavailable, DEFAULT_ANSWER_TIMEOUT_MS } from './control.js';
import { MAX_TRACE_TIMEOUT_S, traceWaitMs } from './trace-command.js';
import { runShell } from './turtle6ctl-shell.js';
import { DEFAULT_CONTROL_SOCKET } from '../config/sections/control.js';

export interface GlobalOptions {
  socket: string;
  json: boolean;
  wait: number;
}

/** Where a command's exit code goes: the process (one command), or the shell's current line. */
export interface ExitSink {
  exitCode?: number | string | undefined;
}

export interface ProgramOptions {
  /** Default: the process. */
  readonly sink?: ExitSink;
  /**
   * One line of the interactive shell: usage errors and --help throw (commander's
   * exitOverride) instead of ending the process, and no command is an error, not a shell.
   */
  readonly inShell?: boolean;
}

/**
 * Sends one command and prints its answer. `waitMs` is how long the command itself waits
 * before answering (a trace's --timeout): the client then waits that long plus a margin.
 */
async function send(program: Command, sink: ExitSink, command: string[], args?: Record<string, unknown>, waitMs?: number): Promise<void> {
  const options = program.opts<GlobalOptions>();
  const usualMs = options.wait * 1000;
  const client = new ControlClient(options.socket, waitMs === undefined ? usualMs : answerTimeoutMs(waitMs, usualMs));
  try {
    const response = await client.request(command, args, options.json);
    if (!response.ok) {
      process.stderr.write(`turtle6ctl: ${response.error}\n`);
      sink.exitCode = 1;
      return;
    }
    const out = options.json ? JSON.stringify(response.data, null, 2) : response.text;
    process.stdout.write(out.endsWith('\n') || out === '' ? out : `${out}\n`);
  } catch (e) {
    process.stderr.write(`turtle6ctl: ${e instanceof Error ? e.message : String(e)}\n`);
    sink.exitCode = e instanceof ControlUnavailable ? 2 : 1;
  }
}

/** --wait and --timeout: above 0 and at most a trace's limit (a day, well within what a timer holds). */
function seconds(text: string): number {
  const value = Number(text);
  if (!(value > 0 && value <= MAX_TRACE_TIMEOUT_S)) throw new InvalidArgumentError(`expected seconds, more than 0 and at most ${MAX_TRACE_TIMEOUT_S}`);
  return value;
}

/** A fresh turtle6ctl program; `parseAsync(argv)` runs one command. */
export function turtle6ctlProgram(options: ProgramOptions = {}): Command {
  const sink = options.sink ?? process;
  const program = new Command('turtle6ctl');
  // Before any subcommand exists: subcommands copy the setting when they are created.
  if (options.inShell === true) program.exitOverride();
  program
    .description('talk to a running turtle6 appliance over its control socket; with no command, a shell (Tab completes, ? helps), or a script read from stdin when it is not a terminal')
    .addOption(new Option('--socket <path>', 'control socket').env('TURTLE6_SOCKET').default(DEFAULT_CONTROL_SOCKET))
    .option('--json', 'print the answer as JSON for machines', false)
    .option('--wait <seconds>', 'how long to wait for an answer (a trace waits for its --timeout plus 10 s)', seconds, DEFAULT_ANSWER_TIMEOUT_MS / 1000);

  program
    .command('show')
    .description('show state: interfaces, routes, neighbors, lanes, counters, config, and what the modules add (ripng, mld …, dhcp …, ipsec …, dns …; see help)')
    .argument('<what...>', 'what to show')
    .action((what: string[]) => send(program, sink, ['show', ...what]));

  program
    .command('reload')
    .description('re-read the config file and apply it (validated first; rolled back if any module refuses)')
    .action(() => send(program, sink, ['reload']));

  program
    .command('config')
    .description('config helpers')
    .command('diff')
    .description('show what a reload from FILE would change in the running config')
    .argument('<file>', 'a config file')
    .action((file: string) => send(program, sink, ['config', 'diff', resolve(file)]));

  program
    .command('trace')
    .description('capture the next N packets the lanes see, optionally filtered')
    .argument('<n>', 'how many packets')
    .option('--if <name>', 'only on this interface')
    .option('--src <prefix>', 'only from this source prefix')
    .option('--dst <prefix>', 'only to this destination prefix')
    .option('--proto <proto>', 'only this next header (icmpv6, udp, tcp, esp or a number)')
    .option('--pcap <file>', 'also write the packets to this pcap file')
    .option('--timeout <seconds>', 'stop waiting for packets after this long and show those seen (default 10)', seconds)
    .action((n: string, opts: { if?: string; src?: string; dst?: string; proto?: string; pcap?: string; timeout?: number }) => {
      const args: Record<string, unknown> = {};
      if (opts.timeout !== undefined) args['timeout'] = opts.timeout;
      for (const key of ['if', 'src', 'dst', 'proto'] as const) if (opts[key] !== undefined) args[key] = opts[key];
      if (opts.pcap !== undefined) args['pcap'] = resolve(opts.pcap);
      return send(program, sink, ['trace', n], args, traceWaitMs(args));
    });

  program
    .command('help')
    .description('list the commands the running appliance offers')
    .action(() => send(program, sink, ['help']));

  // Protocol modules register commands of their own in the appliance (clear ripng, dhcp
  // release, ipsec flush, …): other words go to it as they are, and it names the commands it
  // has when it does not know them.
  program
    .argument('[command...]', 'any other command the appliance offers, e.g. clear ripng, dhcp release ADDRESS, ipsec flush (see help)')
    .action((words: string[]) => {
      if (words.length > 0) return send(program, sink, words);
      if (options.inShell !== true) return runShell(program.opts<GlobalOptions>(), (lineSink) => turtle6ctlProgram({ sink: lineSink, inShell: true }));
      process.stderr.write('turtle6ctl: no command (? lists them)\n');
      sink.exitCode = 1;
      return undefined;
    });
  return program;
}
