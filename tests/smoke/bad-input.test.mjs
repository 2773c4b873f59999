// Bad input on the command line: one clear error line and a non-zero exit, never a panic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runToExit } from './lib.mjs';

function assertOneCleanError(r, pattern) {
  assert.notEqual(r.code, 0, 'non-zero exit');
  assert.doesNotMatch(r.stderr, /panicked|RUST_BACKTRACE|stack backtrace/, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('Error:'));
  assert.equal(errors.length, 1, `exactly one error line in:\n${r.stderr}`);
  assert.match(errors[0], pattern);
}

test('an unknown --chain name', async () => {
  const base = mkdtempSync(join(tmpdir(), 'mnemo-bad-'));
  const r = await runToExit(['--chain', 'no-such-chain', '--base-path', base]);
  assertOneCleanError(r, /unknown chain `no-such-chain`: expected one of dev, local, rococo-local/);
});

test('a malformed chain spec file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-bad-'));
  const file = join(dir, 'broken.json');
  writeFileSync(file, '{ "name": "broken", ');
  const r = await runToExit(['--chain', file, '--base-path', dir]);
  assertOneCleanError(r, /invalid chain spec file/);
});

test('a malformed --dev-key', async () => {
  const r = await runToExit(['--dev', '--dev-key', 'toolong=//Alice']);
  assert.notEqual(r.code, 0);
  assert.doesNotMatch(r.stderr, /panicked/);
  assert.match(r.stderr, /four ASCII characters/);
});
