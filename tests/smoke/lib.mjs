// Helpers to run a real `mnemo-node --dev` on loopback and wait for things without fixed sleeps.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';

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
