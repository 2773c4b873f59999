// Helpers to run a real `mnemo-node --dev` on loopback and wait for things without fixed sleeps.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ApiPromise, WsProvider } from '@polkadot/api';

/** The node binary: $MNEMO_NODE, else the workspace's debug build. */
export function nodeBinary() {
  if (process.env.MNEMO_NODE) return process.env.MNEMO_NODE;
  const target = process.env.CARGO_TARGET_DIR || `${process.env.HOME}/.cache/mnemo-target`;
  return `${target}/debug/mnemo-node`;
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Poll `check` every `intervalMs` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(what, check, { timeoutMs = 120_000, intervalMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${lastErr.message}` : ''}`);
}

/** Run the node binary to completion with `args`; resolves with { code, stdout, stderr }. */
export function runToExit(args, { timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(nodeBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mnemo-node ${args.join(' ')} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Start `mnemo-node --dev` on free loopback ports. */
export async function startDevNode(extraArgs = []) {
  const rpcPort = await freePort();
  const p2pPort = await freePort();
  const args = [
    '--dev',
    '--rpc-port', String(rpcPort),
    '--port', String(p2pPort),
    '--no-prometheus',
    '--no-telemetry',
    '--no-mdns',
    '--no-hardware-benchmarks',
    ...extraArgs,
  ];
  const child = spawn(nodeBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d) => {
    log += d;
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    rpcPort,
    url: `ws://127.0.0.1:${rpcPort}`,
    log: () => log,
    exited,
    /** Resident memory of the node process in KiB (Linux). */
    rssKiB() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const m = status.match(/VmRSS:\s+(\d+) kB/);
      return m ? Number(m[1]) : undefined;
    },
    /** SIGINT, then wait (bounded) for a clean exit. */
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null) return { code: child.exitCode, signal: null };
      child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/** Connect @polkadot/api to a starting node, polling until its RPC server answers. */
export async function connectApi(node, { timeoutMs = 180_000 } = {}) {
  return waitFor('the RPC server', async () => {
    const provider = new WsProvider(node.url, false);
    try {
      await provider.connect();
      await waitFor('the socket', () => provider.isConnected, { timeoutMs: 2_000, intervalMs: 50 });
      const api = await ApiPromise.create({ provider, throwOnConnect: true, noInitWarn: true });
      return { api, provider };
    } catch (e) {
      await provider.disconnect().catch(() => {});
      throw e;
    }
  }, { timeoutMs, intervalMs: 500 });
}

/**
 * Sign and send `tx`; resolves with { blockHash, events } once it is in a block, rejects on a
 * dispatch error, on the pool refusing it, or after `timeoutMs`.
 */
export function signAndWait(api, tx, signer, { timeoutMs = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not included within ${timeoutMs} ms`)), timeoutMs);
    const fail = (e) => {
      clearTimeout(timer);
      reject(e);
    };
    tx.signAndSend(signer, ({ status, events, dispatchError }) => {
      if (dispatchError) {
        const d = dispatchError.isModule ? api.registry.findMetaError(dispatchError.asModule) : null;
        fail(new Error(`dispatch error: ${d ? `${d.section}.${d.name}` : dispatchError.toString()}`));
      } else if (status.isInvalid || status.isDropped || status.isUsurped) {
        fail(new Error(`the pool refused the transaction: ${status.type}`));
      } else if (status.isInBlock || status.isFinalized) {
        // The dev chain finalizes every block it seals, so the pool may report either first.
        clearTimeout(timer);
        resolve({ blockHash: status.isInBlock ? status.asInBlock : status.asFinalized, events });
      }
    }).catch(fail);
  });
}
