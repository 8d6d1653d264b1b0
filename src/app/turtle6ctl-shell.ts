/**
 * turtle6ctl's interactive shell, in the manner of birdc and vtysh: `turtle6ctl` with no
 * command. On a terminal it edits lines (node:readline), keeps a bounded history in
 * ~/.turtle6ctl_history, completes words with Tab and answers `?` with the words that can
 * come next and what they do. Without a terminal it reads commands line by line, so
 * `turtle6ctl < script` runs a script. Every line goes through a fresh turtle6ctl program
 * (turtle6ctl-program.ts), the same code path as a one-shot command.
 *
 * The words come from one table: the commands the running appliance offers (its `help`
 * answer, the table every module registers its commands in, control.ts) merged with what
 * turtle6ctl itself declares (its commands' descriptions, arguments and options). When the
 * appliance is not running, Tab still knows turtle6ctl's own words.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { Transform, type TransformCallback } from 'node:stream';
import { CommanderError, type Command, type Option } from 'commander';
import { ControlClient } from './control.js';
import type { ExitSink, GlobalOptions } from './turtle6ctl-program.js';

/** Lines kept in the history file and in memory. */
export const HISTORY_LINES = 1000;
export const HISTORY_FILE = '.turtle6ctl_history';
const PROMPT = 'turtle6> ';
/** How long the shell waits for the appliance's command table (the commands themselves use --wait). */
const TABLE_TIMEOUT_MS = 3000;

/** One word of the command tree: its description, whether it ends a command, what it takes. */
interface Node {
  help: string;
  runnable: boolean;
  readonly children: Map<string, Node>;
  options: readonly Option[];
  /** Placeholders of the arguments turtle6ctl declares (`<n>`, `<file>`), with their descriptions. */
  args: ReadonlyArray<{ name: string; help: string }>;
}

function node(help = ''): Node {
  return { help, runnable: false, children: new Map(), options: [], args: [] };
}

/** The table of commands: turtle6ctl's own, then the appliance's on top (its words and descriptions win). */
export class CommandTable {
  readonly root = node();

  constructor(program: Command) {
    this.root.options = program.options.filter((o) => o.long !== '--help');
    this.addCommander(this.root, program);
    this.child(this.root, 'exit').help = 'leave the shell (also quit, Ctrl-D)';
    this.child(this.root, 'exit').runnable = true;
    this.child(this.root, 'quit').help = 'leave the shell';
    this.child(this.root, 'quit').runnable = true;
  }

  private child(parent: Node, word: string): Node {
    let n = parent.children.get(word);
    if (n === undefined) parent.children.set(word, (n = node()));
    return n;
  }

  private addCommander(parent: Node, command: Command): void {
    for (const sub of command.commands) {
      const n = this.child(parent, sub.name());
      n.help = sub.description();
      n.options = sub.options.filter((o) => o.long !== '--help');
      n.args = sub.registeredArguments.map((a) => ({ name: a.required ? `<${a.name()}>` : `[${a.name()}]`, help: a.description }));
      // A command without subcommands that needs no argument runs as it is (reload, help).
      n.runnable = sub.commands.length === 0 && !sub.registeredArguments.some((a) => a.required);
      this.addCommander(n, sub);
    }
  }

  /** Adds the appliance's commands (its `help --json` rows). */
  addAppliance(rows: ReadonlyArray<{ command: string; help: string }>): void {
    for (const row of rows) {
      let n = this.root;
      for (const word of row.command.split(' ')) {
        // A word with commands under it: those are what comes next, not turtle6ctl's
        // catch-all argument (`show <what...>`).
        n.args = [];
        n = this.child(n, word);
      }
      n.runnable = true;
      if (row.help !== '') n.help = row.help;
    }
  }

  /**
   * Where the words typed so far lead: the deepest node they name, how many argument words
   * follow it, and the options in force there (the node's and the global ones). Options and
   * their values are passed over.
   */
  locate(words: readonly string[]): { node: Node; argWords: number; options: readonly Option[] } {
    let n = this.root;
    let argWords = 0;
    let options: readonly Option[] = this.root.options;
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      if (word.startsWith('-')) {
        const option = options.find((o) => o.long === word);
        if (option !== undefined && (option.required || option.optional)) i++;
        continue;
      }
      const next = argWords === 0 ? n.children.get(word) : undefined;
      if (next === undefined) argWords++;
      else {
        n = next;
        options = [...next.options, ...this.root.options];
      }
    }
    return { node: n, argWords, options };
  }

  /** What may come next after `words`, starting with `partial`: [word, description] pairs, `<cr>` when the command can run. */
  next(words: readonly string[], partial: string): Array<[string, string]> {
    const { node: n, argWords, options } = this.locate(words);
    const rows: Array<[string, string]> = [];
    if (partial.startsWith('-')) {
      for (const o of options) if (o.long?.startsWith(partial)) rows.push([o.flags.replace(/^-\w, /, ''), o.description]);
      return rows;
    }
    if (argWords === 0) {
      for (const [word, child] of [...n.children].sort(([a], [b]) => a.localeCompare(b))) {
        if (word.startsWith(partial)) rows.push([word, child.help !== '' ? child.help : [...child.children.keys()].sort().join(', ')]);
      }
    }
    if (partial !== '') return rows;
    const argsLeft = n.args.slice(argWords);
    for (const a of argsLeft) rows.push([a.name, a.help]);
    if (n !== this.root) for (const o of n.options) rows.push([o.flags, o.description]);
    if ((n.runnable || n.args.length > 0) && !argsLeft.some((a) => a.name.startsWith('<'))) rows.push(['<cr>', 'run it']);
    return rows;
  }

  /** readline's completer: the words that complete the last one, with a space when there is only one. */
  complete(line: string): [string[], string] {
    const { words, partial } = splitForCompletion(line);
    const hits = this.next(words, partial)
      .map(([word]) => word.split(' ')[0]!)
      .filter((w) => !w.startsWith('<') && !w.startsWith('['));
    return [hits.length === 1 ? [`${hits[0]} `] : hits, partial];
  }

  /** `?`: the table of what may come next, indented, as vtysh prints it. */
  describe(line: string): string {
    const { words, partial } = splitForCompletion(line);
    const rows = this.next(words, partial);
    if (rows.length === 0) return '% there is no such command\n';
    const width = Math.max(...rows.map(([w]) => w.length));
    return rows.map(([w, help]) => `  ${w.padEnd(width)}  ${help}`.trimEnd()).join('\n') + '\n';
  }
}

/** The words of a line; double or single quotes keep spaces in one word. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (const c of line) {
    if (quote !== null) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else word = (word ?? '') + c;
  }
  if (word !== null) words.push(word);
  return words;
}

/** The complete words of a line and the word being typed at its end ('' after a space). */
function splitForCompletion(line: string): { words: string[]; partial: string } {
  const words = splitWords(line);
  const partial = line === '' || /\s$/.test(line) ? '' : (words.pop() ?? '');
  return { words, partial };
}

/**
 * Passes the terminal's bytes on to readline, except `?`: that prints the help for the line
 * typed so far, at once, as vtysh does, and the line stays as it was.
 */
class QuestionMark extends Transform {
  constructor(private readonly onQuestion: () => void) {
    super();
  }

  /** readline puts its input in raw mode through this; the terminal is process.stdin. */
  setRawMode(mode: boolean): this {
    process.stdin.setRawMode(mode);
    return this;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    const at = chunk.indexOf(0x3f);
    if (at < 0) {
      done(null, chunk);
      return;
    }
    if (at > 0) this.push(chunk.subarray(0, at));
    // readline handles the bytes before the `?` first, so the help sees the line they make.
    setImmediate(() => {
      this.onQuestion();
      this._transform(chunk.subarray(at + 1), _encoding, done);
    });
  }
}

function readHistory(path: string): string[] {
  try {
    // The file is oldest first, as a shell's; readline wants newest first.
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(-HISTORY_LINES).reverse();
  } catch {
    return [];
  }
}

function writeHistory(path: string, history: readonly string[]): void {
  // `show routes` and `show routes ` are one command: the newest is kept.
  const lines = [...new Set(history.map((l) => l.trim()))].slice(0, HISTORY_LINES).reverse();
  try {
    writeFileSync(path, lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  } catch (e) {
    // A read-only home is no reason to stop the shell; the history is only not kept.
    process.stderr.write(`turtle6ctl: history not saved in ${path}: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}

/** Runs one line through a fresh program; its exit code (0 ok, 1 refused or a usage error, 2 not running). */
async function runLine(globals: GlobalOptions, makeProgram: (sink: ExitSink) => Command, words: string[]): Promise<number> {
  const sink: ExitSink = { exitCode: 0 };
  const argv = ['--socket', globals.socket, '--wait', String(globals.wait), ...(globals.json ? ['--json'] : []), ...words];
  try {
    await makeProgram(sink).parseAsync(argv, { from: 'user' });
  } catch (e) {
    // Commander has printed the usage error or the help already.
    if (e instanceof CommanderError) return e.exitCode;
    throw e;
  }
  return Number(sink.exitCode ?? 0);
}

/** The appliance's commands, or null when it does not answer (the table then has turtle6ctl's own). */
async function applianceCommands(socket: string): Promise<Array<{ command: string; help: string }> | null> {
  const reply = await new ControlClient(socket, TABLE_TIMEOUT_MS).request(['help'], undefined, true).catch(() => null);
  return reply?.ok === true && Array.isArray(reply.data) ? (reply.data as Array<{ command: string; help: string }>) : null;
}

/**
 * The shell: interactive on a terminal, else a script from stdin. Sets the process's exit
 * code: the last line's on a terminal, the worst line's (2 over 1 over 0) for a script.
 */
export async function runShell(globals: GlobalOptions, makeProgram: (sink: ExitSink) => Command): Promise<void> {
  if (!process.stdin.isTTY) {
    process.exitCode = await runScript(globals, makeProgram);
    return;
  }
  const table = new CommandTable(makeProgram({}));
  const rows = await applianceCommands(globals.socket);
  if (rows === null) process.stderr.write(`turtle6ctl: turtle6 does not answer on ${globals.socket}; commands fail until it does\n`);
  else table.addAppliance(rows);
  let tableLoaded = rows !== null;

  const historyPath = join(homedir(), HISTORY_FILE);
  let rl: Interface | null = null;
  const input = new QuestionMark(() => {
    if (rl === null) return;
    process.stdout.write(`?\n${table.describe(rl.line.slice(0, rl.cursor))}`);
    rl.prompt(true);
  });
  process.stdin.pipe(input);
  rl = createInterface({
    input,
    output: process.stdout,
    terminal: true,
    prompt: PROMPT,
    history: readHistory(historyPath),
    historySize: HISTORY_LINES,
    removeHistoryDuplicates: true,
    tabSize: 4,
    completer: (line: string) => table.complete(line),
  });
  rl.on('history', (history: string[]) => writeHistory(historyPath, history));
  // Ctrl-C drops the line being typed, as in a shell; Ctrl-D or exit leaves.
  rl.on('SIGINT', () => {
    process.stdout.write('^C\n');
    rl!.write(null, { ctrl: true, name: 'e' });
    // Clearing the line redraws the prompt on the new one.
    rl!.write(null, { ctrl: true, name: 'u' });
  });
  process.stdout.write(`turtle6ctl on ${globals.socket}: ? shows what can come next, Tab completes, exit or Ctrl-D leaves\n`);
  let code = 0;
  rl.prompt();
  for await (const line of rl) {
    const words = splitWords(line);
    if (words[0] === 'exit' || words[0] === 'quit') break;
    if (words.length > 0) {
      code = await runLine(globals, makeProgram, words);
      // The appliance came up since the shell started: learn its commands now.
      if (!tableLoaded) {
        const later = await applianceCommands(globals.socket);
        if (later !== null) table.addAppliance(later);
        tableLoaded = later !== null;
      }
    }
    rl.prompt();
  }
  rl.close();
  process.stdin.unpipe(input);
  process.stdin.pause();
  process.exitCode = code;
}

/** Commands from a pipe or a file, one a line; blank lines and `#` comments are passed over. */
async function runScript(globals: GlobalOptions, makeProgram: (sink: ExitSink) => Command): Promise<number> {
  let worst = 0;
  for await (const line of createInterface({ input: process.stdin, terminal: false })) {
    const words = splitWords(line.replace(/^\s*#.*$/, ''));
    if (words[0] === 'exit' || words[0] === 'quit') break;
    if (words.length > 0) worst = Math.max(worst, await runLine(globals, makeProgram, words));
  }
  return worst;
}
