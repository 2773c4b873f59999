// The node stops cleanly while an offchain worker is in the middle of a call to the engine.
//
// Offchain workers run on their own threads and hold the client (and so the database) while they
// run. A node that returned from `main` with one still running closed RocksDB under it, and
// RocksDB aborted the process ("pthread lock: Invalid argument", SIGABRT). Here the worker is
// held on purpose: the engine is a socket that accepts the request and never answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Keyring } from '@polkadot/keyring';
import { u8aConcat, u8aToHex, bnToU8a } from '@polkadot/util';
import { blake2AsU8a, cryptoWaitReady } from '@polkadot/util-crypto';
import { connectApi, signAndWait, startDevNode, waitFor } from './lib.mjs';

const MILLI = 10n ** 9n;

/** A TCP server that takes requests and never answers; resolves `requested` on the first. */
async function silentEngine() {
  let sawRequest;
  const requested = new Promise((r) => { sawRequest = r; });
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => { if (d.toString().startsWith('POST /v1/datanets/')) sawRequest(d.toString()); });
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requested,
    close: () => { sockets.forEach((s) => s.destroy()); server.close(); },
  };
}

test('the node stops cleanly while an offchain worker waits on the engine', { timeout: 600_000 }, async (t) => {
  await cryptoWaitReady();
  const engine = await silentEngine();
  const node = await startDevNode(['--dev-key', 'dnet=//Alice']);
  let api;
  t.after(async () => {
    if (api) await api.disconnect().catch(() => {});
    await node.stop();
    engine.close();
  });

  try {
    let provider;
    ({ api, provider } = await connectApi(node));
    await provider.send('mnemo_setEngineUrl', [engine.url]);

    const alice = new Keyring({ type: 'sr25519' }).addFromUri('//Alice');
    const text = (s) => u8aToHex(new TextEncoder().encode(s));
    const created = await signAndWait(api, api.tx.datanets.createDatanet('Text', {
      name: text('shutdown-test'),
      summary: text('a datanet whose validator is this node'),
      description: { Inline: text('') },
      tags: [],
      license: text('CC0-1.0'),
    }, {
      bond: 10n * MILLI,
      curators: [alice.address],
      threshold: 1,
      rejectSlash: 0,
      reviewPeriod: 100,
      quota: { perPeriod: 10, period: 10 },
      access: 'Open',
      validators: [u8aToHex(alice.publicKey)],
    }), alice);
    const ev = created.events.find(({ event }) => api.events.datanets.DatanetCreated.is(event));
    assert.ok(ev, 'DatanetCreated');
    const datanet = ev.event.data[0].toNumber();

    // Commit, then reveal in a later block.
    const hash = blake2AsU8a(new TextEncoder().encode('to be or not to be'), 256);
    const commitment = blake2AsU8a(u8aConcat(bnToU8a(datanet, { bitLength: 32 }), hash, alice.publicKey), 256);
    await signAndWait(api, api.tx.datanets.commit(u8aToHex(commitment)), alice);
    await signAndWait(api, api.tx.datanets.contribute(datanet, u8aToHex(hash), 18, 1), alice);

    // The worker picks the contribution up and is now waiting on the silent engine.
    const request = await Promise.race([
      engine.requested,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no validation request within 60 s')), 60_000)),
    ]);
    assert.match(request, new RegExp(`^POST /v1/datanets/${datanet}/validate`));
  } catch (e) {
    console.error(node.log().slice(-5000));
    throw e;
  }

  await api.disconnect();
  api = undefined;
  const started = Date.now();
  const { code, signal } = await node.stop();
  const waited = node.log().match(/Offchain workers finished after ([^\s]+)/);
  console.log(`# stopped ${Date.now() - started} ms after SIGINT${waited ? `; waited ${waited[1]} for the worker` : ''}`);
  assert.equal(signal, null, `the node exited by itself after SIGINT\n${node.log().slice(-3000)}`);
  assert.equal(code, 0, `the node exited cleanly\n${node.log().slice(-3000)}`);
});
