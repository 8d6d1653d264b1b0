import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { ManualClock } from '../../src/lib/clock.js';
import { createRootLogger, moduleLogger, RateLimitedLog } from '../../src/observability/log.js';

/** A destination that keeps every JSON line pino writes. */
function capture(): { lines: () => Array<Record<string, unknown>>; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    stream,
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('root logger writes JSON with app=turtle6 and honours the level', () => {
  const out = capture();
  const root = createRootLogger({ level: 'info', destination: out.stream });
  root.debug('hidden');
  root.info({ x: 1 }, 'shown');
  const lines = out.lines();
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!['app'], 'turtle6');
  assert.equal(lines[0]!['msg'], 'shown');
  assert.equal(lines[0]!['x'], 1);
  assert.equal(typeof lines[0]!['time'], 'string');
});

test('module loggers carry module, ifname and peer', () => {
  const out = capture();
  const log = moduleLogger(createRootLogger({ level: 'info', destination: out.stream }), 'ripng', { ifname: 'lan0', peer: 'fe80::1' });
  log.warn('bad response');
  const [line] = out.lines();
  assert.deepEqual([line!['module'], line!['ifname'], line!['peer'], line!['app']], ['ripng', 'lan0', 'fe80::1', 'turtle6']);
});

test('a flood of one kind passes ratePerKind lines, then one summary when the bucket refills', () => {
  const out = capture();
  const clock = new ManualClock(0);
  const rl = new RateLimitedLog(createRootLogger({ level: 'info', destination: out.stream }), 2, clock);
  const noisy = rl.limited('ripng.bad-source');
  for (let i = 0; i < 10; i++) noisy.warn({ i }, 'dropped');
  rl.limited('other').info('unaffected');
  assert.deepEqual(out.lines().map((l) => [l['kind'], l['i'], l['msg']]), [
    ['ripng.bad-source', 0, 'dropped'],
    ['ripng.bad-source', 1, 'dropped'],
    ['other', undefined, 'unaffected'],
  ]);
  // One token comes back after 1000/rate ms: the summary is written then, exactly once.
  clock.advance(499);
  assert.equal(out.lines().length, 3);
  clock.advance(1);
  const summary = out.lines()[3]!;
  assert.deepEqual([summary['kind'], summary['suppressed'], summary['level']], ['ripng.bad-source', 8, 40]);
  clock.advance(10_000);
  assert.equal(out.lines().length, 4);
  // After refilling, the kind logs again.
  noisy.warn('again');
  assert.equal(out.lines()[4]!['msg'], 'again');
});

test('reconfigure changes the rate in place; flush reports pending counts', () => {
  const out = capture();
  const clock = new ManualClock(0);
  const rl = new RateLimitedLog(createRootLogger({ level: 'info', destination: out.stream }), 1, clock);
  const k = rl.limited('k');
  k.info('a');
  k.info('b');
  rl.flush();
  assert.deepEqual(out.lines().map((l) => l['suppressed'] ?? l['msg']), ['a', 1]);
  rl.reconfigure(100);
  clock.advance(1000);
  for (let i = 0; i < 50; i++) k.info('burst');
  assert.equal(out.lines().filter((l) => l['msg'] === 'burst').length, 50);
});
