// Adapter for the shared code-mode peer harness (see bench/peers/README.md): drives the
// `peer` example of the sandbox crate, a long-lived process speaking JSON lines on stdio.
// Tools (echo, slow) run host-side in that process, in-process with the sandbox, as every
// other peer's tools do; the pipe round trip per execution is included in every time.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export const name = 'codemode';
export const versions = () => ({ codemode: process.env.CODEMODE_VERSION || 'workspace' });
export const T = 'tools.bench';

let child;
const waiting = [];

export async function init() {
  const bin = process.env.CODEMODE_PEER_BIN;
  if (!bin) throw new Error('set CODEMODE_PEER_BIN to target/release/examples/peer');
  child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.(JSON.parse(line)));
  child.on('exit', (code, signal) => {
    for (const resolve of waiting.splice(0)) resolve({ ok: false, error: `codemode exited: ${code ?? signal}` });
  });
  process.on('exit', () => child.kill());
}

export function exec(code, { timeoutMs, memoryMB }) {
  return new Promise((resolve) => {
    waiting.push(resolve);
    child.stdin.write(JSON.stringify({ code, timeoutMs, memoryMB }) + '\n');
  });
}
