import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { answerTimeoutMs, ControlClient, ControlServer, ControlUnavailable, DEFAULT_ANSWER_TIMEOUT_MS, registerConfigCommands } from '../../src/app/control.js';
import { traceWaitMs } from '../../src/app/trace-command.js';
import { formatFields, formatTable } from '../../src/app/format.js';
import { loadConfigText } from '../../src/config/load.js';
import { run } from '../helpers/netns.js';
import { TURTLE6CTL_AS_NOBODY } from '../helpers/router.js';

const root = resolve(import.meta.dirname, '../../..');
const ctl = join(root, 'dist/src/app/turtle6ctl.js');

/** A world-traversable temp directory, so only the socket's own mode keeps other users out. */
function socketDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 't6ctl-'));
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function started(t: { after: (fn: () => Promise<void>) => void }, path: string): Promise<ControlServer> {
  const server = new ControlServer(path);
  server.register(['show', 'routes'], () => ({ data: [{ prefix: '::/0' }], text: formatTable(['PREFIX'], [['::/0']]) }), 'routes');
  server.register(['show'], (_req, rest) => ({ data: rest, text: `generic show ${rest.join(' ')}` }));
  server.register(['trace'], (req, rest) => ({ data: { n: Number(rest[0]), args: req.args ?? null, json: req.json }, text: 'traced' }));
  server.register(['boom'], () => {
    throw new Error('it broke');
  });
  await server.listen();
  t.after(() => server.close());
  return server;
}

test('requests round-trip with longest-prefix dispatch, args and errors', async (t) => {
  const path = join(socketDir(t), 'c.sock');
  await started(t, path);
  const client = new ControlClient(path);
  assert.deepEqual(await client.request(['show', 'routes']), { id: 1, ok: true, data: [{ prefix: '::/0' }], text: 'PREFIX\n::/0' });
  assert.deepEqual(await client.request(['show', 'lanes', 'detail']), { id: 2, ok: true, data: ['lanes', 'detail'], text: 'generic show lanes detail' });
  const traced = await client.request(['trace', '5'], { if: 'lan0' }, true);
  assert.deepEqual(traced, { id: 3, ok: true, data: { n: 5, args: { if: 'lan0' }, json: true }, text: 'traced' });
  assert.deepEqual(await client.request(['boom']), { id: 4, ok: false, error: 'it broke' });
  const unknown = await client.request(['reload']);
  assert.equal(unknown.ok, false);
  assert.match(!unknown.ok ? unknown.error : '', /^unknown command "reload"; available: boom, help, show, show routes, trace$/);
  const help = await client.request(['help']);
  assert.ok(help.ok && help.text.includes('show routes  routes'));
});

test('the socket is mode 0600 and a stale socket is replaced, a live one refused', async (t) => {
  const dir = socketDir(t);
  const path = join(dir, 'c.sock');
  // A stale socket: bound by a process that exited without unlinking it.
  const bound = run('python3', ['-c', 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
  assert.equal(bound.code, 0, bound.stderr);
  assert.ok(statSync(path).isSocket());
  await started(t, path);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  await assert.rejects(new ControlServer(path).listen(), /another process is serving/);
  const notSocket = join(dir, 'file');
  writeFileSync(notSocket, 'x');
  await assert.rejects(new ControlServer(notSocket).listen(), /is not a socket/);
});

test('a new socket directory is created 0700', async (t) => {
  const path = join(socketDir(t), 'run', 'turtle6', 'c.sock');
  await started(t, path);
  assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
});

test('a non-root user is denied', async (t) => {
  const path = join(socketDir(t), 'c.sock');
  await started(t, path);
  const r = run(process.execPath, [TURTLE6CTL_AS_NOBODY, '--socket', path, 'show', 'routes']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^turtle6ctl: permission denied on .*c\.sock/);
  assert.equal(r.stdout, '');
});

test('turtle6ctl prints text, --json data, exits 1 on errors and 2 when the appliance is absent', async (t) => {
  const dir = socketDir(t);
  const path = join(dir, 'c.sock');
  const config = loadConfigText('interfaces:\n  - name: lan0\n', 'c.yaml');
  assert.ok(config.ok);
  const server = await started(t, path);
  registerConfigCommands(server, () => config.config);
  const ctlRun = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      // Async spawn: the server lives in this process, so a synchronous child would deadlock it.
      execFile(process.execPath, [ctl, '--socket', path, ...args], (error, stdout, stderr) =>
        done({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
      );
    });
  assert.deepEqual(await ctlRun('show', 'routes'), { code: 0, stdout: 'PREFIX\n::/0\n', stderr: '' });
  assert.deepEqual(await ctlRun('--json', 'show', 'routes'), { code: 0, stdout: '[\n  {\n    "prefix": "::/0"\n  }\n]\n', stderr: '' });
  assert.deepEqual(await ctlRun('trace', '3', '--if', 'lan0', '--proto', 'udp', '--json'), {
    code: 0,
    stdout: `${JSON.stringify({ n: 3, args: { if: 'lan0', proto: 'udp' }, json: true }, null, 2)}\n`,
    stderr: '',
  });
  assert.deepEqual(await ctlRun('reload'), { code: 1, stdout: '', stderr: 'turtle6ctl: unknown command "reload"; available: boom, config diff, help, show, show config, show routes, trace\n' });
  // Commands the CLI does not define itself (a module's, like clear ripng) go to the appliance as they are.
  assert.deepEqual(await ctlRun('boom'), { code: 1, stdout: '', stderr: 'turtle6ctl: it broke\n' });
  server.register(['clear', 'ripng'], (_req, rest) => ({ data: rest, text: 'cleared' }));
  assert.deepEqual(await ctlRun('clear', 'ripng', '--json'), { code: 0, stdout: '[]\n', stderr: '' });
  assert.deepEqual(await ctlRun('clear', 'ripng'), { code: 0, stdout: 'cleared\n', stderr: '' });
  const next = join(dir, 'next.yaml');
  writeFileSync(next, 'interfaces:\n  - name: lan0\n    mtu: 1400\n');
  assert.deepEqual(await ctlRun('config', 'diff', next), { code: 0, stdout: '~ interfaces[lan0].mtu: 1500 → 1400\n', stderr: '' });
  writeFileSync(next, 'interfaces:\n  - name: lan0\n    mtu: 100\n');
  const bad = await ctlRun('config', 'diff', next);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, `turtle6ctl: ${next}:3:10: interfaces[0].mtu: expected an integer from 1280 to 9000, found 100\n`);
  const absent = run(process.execPath, [ctl, '--socket', join(dir, 'absent.sock'), 'show', 'routes']);
  assert.equal(absent.code, 2);
  assert.match(absent.stderr, /turtle6 is not running/);
  await assert.rejects(new ControlClient(join(dir, 'absent.sock')).request(['x']), ControlUnavailable);
});

test('the client waits for a trace as long as the trace waits, plus a margin', () => {
  assert.equal(DEFAULT_ANSWER_TIMEOUT_MS, 30_000);
  // The default 10 s trace fits in the usual 30 s; a 60 s trace gets 70 s, not 30.
  assert.equal(answerTimeoutMs(traceWaitMs({})), 30_000);
  assert.equal(answerTimeoutMs(traceWaitMs({ timeout: 60 })), 70_000);
  assert.equal(answerTimeoutMs(traceWaitMs({ timeout: 4 }), 2_000), 14_000);
  assert.equal(answerTimeoutMs(traceWaitMs({ timeout: 0.5 }), 45_000), 45_000);
  for (const timeout of [0, -1, Number.NaN, '5', 86_401]) {
    assert.throws(() => traceWaitMs({ timeout }), /^Error: trace: --timeout takes seconds, more than 0 and at most 86400/);
  }
});

test('malformed request lines get an error answer, not a dropped connection', async (t) => {
  const path = join(socketDir(t), 'c.sock');
  await started(t, path);
  const socket = createConnection(path);
  socket.setEncoding('utf8');
  let answer = '';
  socket.write('not json\n{"id":7,"command":"show"}\n');
  await new Promise<void>((done) =>
    socket.on('data', (d: string) => {
      answer += d;
      if (answer.split('\n').length > 2) done();
    }),
  );
  socket.destroy();
  assert.deepEqual(answer.trim().split('\n').map((l) => JSON.parse(l)), [
    { id: 0, ok: false, error: 'request is not JSON' },
    { id: 7, ok: false, error: 'request needs "command": an array of words' },
  ]);
});

test('formatTable aligns columns, right-aligns numbers and marks empty cells', () => {
  assert.equal(
    formatTable(['IFNAME', 'MTU', 'ADDRESS'], [['lan0', 1500, '2001:db8:1::1/64'], ['wan0.long', 9000, null]]),
    ['IFNAME      MTU  ADDRESS', 'lan0       1500  2001:db8:1::1/64', 'wan0.long  9000  -'].join('\n'),
  );
  assert.equal(formatTable([{ header: 'N', align: 'left' }, 'UP'], [[7, true], [12, false]]), 'N   UP\n7   yes\n12  no');
  assert.equal(formatTable(['A', 'B'], []), 'A  B');
  assert.equal(formatFields([['lanes', 2], ['io', 'uring']]), 'lanes: 2\nio:    uring');
});
