// Smoke test: a real `mnemo-node --dev` produces blocks and includes a signed transfer sent by
// @polkadot/api (the library behind Polkadot.js apps); the mnemo RPC module answers; the node
// stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyring } from '@polkadot/keyring';
import { cryptoWaitReady, mnemonicGenerate } from '@polkadot/util-crypto';
import { connectApi, signAndWait, startDevNode, waitFor } from './lib.mjs';

const UNIT = 10n ** 12n;

test('mnemo-node --dev: blocks, a signed transfer, the mnemo RPC, a clean stop', { timeout: 600_000 }, async (t) => {
  await cryptoWaitReady();
  const node = await startDevNode();
  let api;
  let provider;
  t.after(async () => {
    if (api) await api.disconnect().catch(() => {});
    await node.stop();
  });

  try {
    // The RPC server comes up: poll until a connection succeeds (no fixed sleeps).
    ({ api, provider } = await connectApi(node));

    const props = await api.rpc.system.properties();
    assert.equal(props.tokenSymbol.unwrap()[0].toString(), 'MNEMO');
    assert.equal(props.tokenDecimals.unwrap()[0].toNumber(), 12);
    assert.equal(api.runtimeVersion.specName.toString(), 'mnemo');

    // At least 3 blocks, and the time between them.
    const stamps = [];
    const unsub = await api.rpc.chain.subscribeNewHeads((h) => stamps.push([h.number.toNumber(), Date.now()]));
    await waitFor('block #3', async () => (await api.rpc.chain.getHeader()).number.toNumber() >= 3, { timeoutMs: 60_000 });
    await waitFor('five heads', () => stamps.length >= 5, { timeoutMs: 60_000 });
    unsub();
    // The first head is the one current at subscription time: measure from the second on.
    const seen = stamps.slice(1);
    const gaps = seen.slice(1).map(([, ts], i) => ts - seen[i][1]);
    const avgGap = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    console.log(`# dev block time: ${(avgGap / 1000).toFixed(2)} s (${gaps.length} intervals)`);

    // A signed transfer from Alice to a fresh account is included, and a fee is charged.
    const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
    const alice = keyring.addFromUri('//Alice');
    const fresh = keyring.addFromMnemonic(mnemonicGenerate());
    const amount = 5n * UNIT;
    const aliceBefore = (await api.query.system.account(alice.address)).data.free.toBigInt();

    const { blockHash, events } = await signAndWait(api, api.tx.balances.transferKeepAlive(fresh.address, amount), alice);
    assert.ok(events.some(({ event }) => api.events.system.ExtrinsicSuccess.is(event)), 'ExtrinsicSuccess');
    const feeEvent = events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
    assert.ok(feeEvent, 'TransactionFeePaid');
    const fee = feeEvent.event.data[1].toBigInt();
    assert.ok(fee > 0n, 'the transfer paid a fee');

    const at = await api.at(blockHash);
    assert.equal((await at.query.system.account(fresh.address)).data.free.toBigInt(), amount);
    assert.equal((await at.query.system.account(alice.address)).data.free.toBigInt(), aliceBefore - amount - fee);
    console.log(`# transfer included in ${blockHash.toHex()}, fee ${fee} units`);

    // Mnemo's own RPC module.
    const info = await provider.send('mnemo_info', []);
    assert.equal(info.specName, 'mnemo');
    assert.equal(info.tokenSymbol, 'MNEMO');
    assert.equal(info.existentialDeposit, (UNIT / 1000n).toString());
    assert.equal(await provider.send('mnemo_engineUrl', []), null);
    await provider.send('mnemo_setEngineUrl', ['http://127.0.0.1:8844']);
    assert.equal(await provider.send('mnemo_engineUrl', []), 'http://127.0.0.1:8844');
    await assert.rejects(provider.send('mnemo_setEngineUrl', ['ftp://nope']), /http:\/\/ or https:\/\//);

    const rss = node.rssKiB();
    if (rss) console.log(`# node resident memory: ${(rss / 1024).toFixed(0)} MiB`);
  } catch (e) {
    console.error(node.log().slice(-5000));
    throw e;
  }

  await api.disconnect();
  api = undefined;
  const { code, signal } = await node.stop();
  assert.equal(signal, null, `the node exited by itself after SIGINT\n${node.log().slice(-3000)}`);
  assert.equal(code, 0, `the node exited cleanly\n${node.log().slice(-3000)}`);
});
