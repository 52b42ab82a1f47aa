import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutputTail } from '../../src/runtime/docker/exec.js';

function frame(stream: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

test('multiplexed exec output is decoded across arbitrary chunk boundaries', () => {
  const raw = Buffer.concat([frame(1, 'dumping...\n'), frame(2, 'error: disk full\n')]);
  for (const cut of [1, 3, 8, 9, 15, raw.length - 1]) {
    const tail = new OutputTail(1024);
    tail.feed(raw.subarray(0, cut));
    tail.feed(raw.subarray(cut));
    assert.equal(tail.text(), 'dumping...\nerror: disk full\n');
  }
});

test('only the end of a long output is kept', () => {
  const tail = new OutputTail(16);
  for (let i = 0; i < 1000; i++) tail.feed(frame(1, `line ${i}\n`));
  assert.equal(tail.text(), 'line 998\nline 999\n'.slice(-16));
});
