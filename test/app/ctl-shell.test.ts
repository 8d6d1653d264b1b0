/**
 * turtle6ctl's shell (no command) against a running appliance: on a pseudo-terminal a person
 * types commands, completes them with Tab, asks `?`, finds yesterday's commands in the
 * history and leaves with exit or Ctrl-D; from a pipe it runs a script line by line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HISTORY_FILE, HISTORY_LINES } from '../../src/app/turtle6ctl-shell.js';
import { run, shortName, TestBed } from '../helpers/netns.js';
import { ptySession, type PtyResult } from '../helpers/pty.js';
import { onePortConfig, startRouter, TURTLE6CTL } from '../helpers/router.js';

const PROMPT = 'turtle6> ';

function explain(r: PtyResult): string {
  return `failed at step ${r.failedStep}; transcript:\n${r.transcript}`;
}

test('turtle6ctl with no command: a shell on a terminal, a script from a pipe', async (t) => {
  const bed = new TestBed('sh');
  t.after(() => bed.cleanup());
  const home = mkdtempSync(join(tmpdir(), 't6sh-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const r = bed.netns('r');
  const if1 = shortName('t6s');
  const router = await startRouter(bed, r, onePortConfig(if1, 'ripng: {}'));
  // The control socket is a path: the client reaches it from any namespace.
  const shell = (steps: Parameters<typeof ptySession>[1]) => ptySession([process.execPath, TURTLE6CTL, '--socket', router.socket], steps, { HOME: home });
  const historyFile = join(home, HISTORY_FILE);

  await t.test('commands, Tab, ? and exit on a terminal', () => {
    const s = shell([
      { expect: `${PROMPT}$` },
      { send: 'show interfaces\r', expect: `${if1}\\s+tap\\s+up[^\\n]*\\n${PROMPT}$` },
      // Tab completes a word the table has, and adds the space. (Each step sees the output
      // from its keys on: the prompt before them was printed in the step before.)
      { send: 'sh\t', expect: `^show $` },
      // ? lists what may follow, from the appliance's table (a module's commands too), and
      // leaves the line as it was.
      { send: '?', expect: `\\n  config +the running config[^\\n]*\\n[\\s\\S]*\\n  ripng +RIPng neighbours[\\s\\S]*${PROMPT}show $` },
      { send: 'inter\t', expect: `^interfaces $` },
      { send: '\r', expect: `Interface +Kind[\\s\\S]*${if1}[\\s\\S]*${PROMPT}$` },
      // ? on a partial word: the words it may become, with what they do.
      { send: 'cl?', expect: `\\n  clear +dns, ripng\\n${PROMPT}cl$` },
      // Options complete from turtle6ctl's own table.
      { send: '\x15trace 1 --ti\t', expect: `trace 1 --timeout $` },
      // Ctrl-C drops the line being typed, and the next line starts afresh.
      { send: '\x15show int\x03', expect: `\\^C\\n${PROMPT}$` },
      { send: 'show lanes\r', expect: `Lane +State[\\s\\S]*${PROMPT}$` },
      // A mistake is reported and the shell goes on.
      { send: '\x15show rutes\r', expect: `unknown command "show rutes"[\\s\\S]*${PROMPT}$` },
      { send: 'exit\r' },
    ]);
    assert.equal(s.failedStep, null, explain(s));
    assert.equal(s.exitCode, 1, `exit code of the last command (show rutes): ${explain(s)}`);
    // ? printed its table at once: the typed `?` is not in the line that ran.
    assert.doesNotMatch(s.transcript, /unknown command "show\s*\?/);
    const history = readFileSync(historyFile, 'utf8').split('\n');
    assert.deepEqual(history, ['show interfaces', 'show lanes', 'show rutes', 'exit', '']);
    assert.equal(statSync(historyFile).mode & 0o777, 0o600);
  });

  await t.test('the history is there next time: up arrow, Enter; Ctrl-D leaves', () => {
    const s = shell([
      { expect: `${PROMPT}$` },
      // Newest first: exit, show rutes, show lanes, show interfaces.
      { send: '\x1b[A\x1b[A\x1b[A\x1b[A', expect: `${PROMPT}show interfaces$` },
      { send: '\r', expect: `${if1}\\s+tap[\\s\\S]*${PROMPT}$` },
      { send: '\x04' },
    ]);
    assert.equal(s.failedStep, null, explain(s));
    assert.equal(s.exitCode, 0, explain(s));
  });

  await t.test('the history file is bounded', () => {
    writeFileSync(historyFile, Array.from({ length: HISTORY_LINES + 50 }, (_, i) => `show routes ${i}\n`).join(''));
    const s = shell([{ expect: `${PROMPT}$` }, { send: 'show lanes\r', expect: `Lane[\\s\\S]*${PROMPT}$` }, { send: '\x04' }]);
    assert.equal(s.failedStep, null, explain(s));
    const lines = readFileSync(historyFile, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, HISTORY_LINES);
    assert.equal(lines.at(-1), 'show lanes');
    assert.equal(lines.at(-2), `show routes ${HISTORY_LINES + 49}`);
  });

  await t.test('a script on stdin runs line by line; the worst exit code wins', () => {
    const script = ['# a comment', 'show interfaces', '', 'show rutes', 'help'].join('\n');
    const out = run(process.execPath, [TURTLE6CTL, '--socket', router.socket], script);
    assert.equal(out.code, 1, out.stderr);
    assert.match(out.stdout, new RegExp(`^Interface +Kind[\\s\\S]*${if1}[\\s\\S]*COMMAND +DESCRIPTION`));
    assert.match(out.stderr, /^turtle6ctl: unknown command "show rutes"/);
    const all = run(process.execPath, [TURTLE6CTL, '--socket', router.socket, '--json'], 'show lanes\n');
    assert.equal(all.code, 0, all.stderr);
    assert.ok(Array.isArray(JSON.parse(all.stdout)), 'the shell passes --json on to every line');
    const down = run(process.execPath, [TURTLE6CTL, '--socket', join(home, 'none.sock')], 'show lanes\n');
    assert.equal(down.code, 2, 'not running: 2');
  });
});
