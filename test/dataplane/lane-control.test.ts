import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controlView, CTRL_WAKE_FD, CTRL_WAKE_WRITERS, CTRL_WORDS, publishEngineHandle, publishWakeFd, retireEngineHandle, retireWakeFd, wakeLane } from '../../src/dataplane/lane-control.js';
import { createWakeFd } from '../../src/io/wake.js';
import { close, read } from '../../native-bindings/libc.js';

const pending = (fd: number): boolean => read(fd, new BigUint64Array(1), 8) === 8;

test('a retired wake fd is never written again: wakeLane reads the word, not a remembered number', () => {
  const ctl = controlView(new SharedArrayBuffer(2 * CTRL_WORDS * 4), 1);
  const fd = createWakeFd();
  try {
    wakeLane(ctl);
    publishWakeFd(ctl, fd);
    wakeLane(ctl);
    assert.equal(pending(fd), true);
    assert.equal(retireWakeFd(ctl), fd);
    assert.equal(Atomics.load(ctl, CTRL_WAKE_FD), -1);
    // Still open here, as a reused number would be: nothing lands in it.
    wakeLane(ctl);
    assert.equal(pending(fd), false);
    assert.equal(Atomics.load(ctl, CTRL_WAKE_WRITERS), 0);
  } finally {
    close(fd);
  }
});

test('retireWakeFd gives up, after a bounded wait, on a writer that never leaves wakeLane', () => {
  const ctl = controlView(new SharedArrayBuffer(CTRL_WORDS * 4), 0);
  publishWakeFd(ctl, 1000);
  Atomics.add(ctl, CTRL_WAKE_WRITERS, 1); // a writer killed between its load and its write
  const started = Date.now();
  assert.equal(retireWakeFd(ctl), 1000);
  const waited = Date.now() - started;
  assert.ok(waited >= 90 && waited < 2000, `waited ${waited} ms`);
});

test('the engine handle survives the round trip through two Int32 words', () => {
  const ctl = controlView(new SharedArrayBuffer(CTRL_WORDS * 4), 0);
  for (const address of [0x7f12_3456_7890, 0x5555_8000_0000, 0xffff_fff0]) {
    publishEngineHandle(ctl, address);
    assert.equal(retireEngineHandle(ctl), address);
    assert.equal(retireEngineHandle(ctl), 0);
  }
});
