// `--dev --base-path DIR` keeps the chain and the node-local offchain storage (where the engine
// URL for the offchain workers lives) across a restart; plain `--dev` starts fresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevNode, waitFor } from './lib.mjs';

/** JSON-RPC over HTTP (the node serves HTTP and WebSocket on one port). */
async function rpc(node, method, params = []) {
  const res = await fetch(`http://127.0.0.1:${node.rpcPort}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

async function bestNumber(node) {
  return (await rpc(node, 'mnemo_info')).bestNumber;
}

test('--dev --base-path keeps blocks and the engine URL across a restart', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mnemo-persist-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const first = await startDevNode(['--base-path', dir]);
  let reached;
  try {
    await waitFor('the RPC server', () => rpc(first, 'mnemo_info'), { timeoutMs: 180_000, intervalMs: 500 });
    await rpc(first, 'mnemo_setEngineUrl', ['http://127.0.0.1:8844']);
    reached = await waitFor('block #3', async () => {
      const n = await bestNumber(first);
      return n >= 3 ? n : 0;
    }, { timeoutMs: 60_000 });
  } finally {
    const { code } = await first.stop();
    assert.equal(code, 0, first.log().slice(-2000));
  }

  const second = await startDevNode(['--base-path', dir]);
  try {
    await waitFor('the RPC server again', () => rpc(second, 'mnemo_info'), { timeoutMs: 180_000, intervalMs: 500 });
    assert.ok((await bestNumber(second)) >= reached, 'the chain continued from where it stopped');
    assert.equal(await rpc(second, 'mnemo_engineUrl'), 'http://127.0.0.1:8844');
  } finally {
    await second.stop();
  }

  // Without --base-path, --dev is a fresh temporary chain every time.
  const fresh = await startDevNode();
  try {
    await waitFor('a fresh node', () => rpc(fresh, 'mnemo_info'), { timeoutMs: 180_000, intervalMs: 500 });
    assert.equal(await rpc(fresh, 'mnemo_engineUrl'), null);
  } finally {
    await fresh.stop();
  }
});
