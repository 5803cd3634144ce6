// One service of the fleet as a child process: spawned, its output piped, ready once it says so
// and answers its health check, and stopped (SIGTERM, then SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT, type ServiceName } from './config.js';
import type { InstanceName } from './replicas.js';

/** A service that exited although nobody asked it to. */
export interface ServiceExit {
  service: InstanceName;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What a service sends its launcher once it listens (see examples/shared/src/launcher.ts). */
interface ListeningMessage {
  type: 'listening';
  url: string;
}

const isListening = (message: unknown): message is ListeningMessage =>
  typeof message === 'object' &&
  message !== null &&
  (message as { type?: unknown }).type === 'listening' &&
  typeof (message as { url?: unknown }).url === 'string';

export function describeExit({ service, code, signal }: ServiceExit): string {
  return `${service} exited (${signal === null ? `code ${String(code)}` : `signal ${signal}`})`;
}

/** A spawned service: its process, its last stderr line (why it failed, usually) and its exit. */
export interface Child {
  readonly name: InstanceName;
  readonly process: ChildProcess;
  lastError: string;
  /** Set before the fleet stops it, so its exit is not reported as unexpected. */
  stopping: boolean;
  readonly exited: Promise<ServiceExit>;
}

/**
 * Spawn `service` as `node examples/<service>/dist/main.js` (the command its container runs) with
 * `env`, its output going to `log` line by line.
 */
export function spawnService(
  name: InstanceName,
  service: ServiceName,
  env: NodeJS.ProcessEnv,
  log: (service: InstanceName, line: string) => void,
): Child {
  const spawned = spawn(process.execPath, [join(REPO_ROOT, 'examples', service, 'dist', 'main.js')], {
    env,
    // The IPC channel carries the service's "listening" message; when it closes (this process
    // gone, even by SIGKILL) the service stops itself. Its own process group: a Ctrl-C in the
    // terminal reaches only this launcher, which then stops the services in order.
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    detached: true,
  });
  const child: Child = {
    name,
    process: spawned,
    lastError: '',
    stopping: false,
    exited: new Promise((resolve) => {
      spawned.on('exit', (code, signal) => {
        resolve({ service: name, code, signal });
      });
    }),
  };
  spawned.on('error', (error) => {
    child.lastError = error.message;
  });
  pipeLines(child, log);
  return child;
}

function pipeLines(child: Child, log: (service: InstanceName, line: string) => void): void {
  for (const stream of [child.process.stdout, child.process.stderr]) {
    let buffered = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (stream === child.process.stderr && line.trim() !== '') child.lastError = line.trim();
        log(child.name, line);
      }
    });
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Ready means: this child said, over its IPC channel, that it listens at `url`, and `url/health`
 * answers 200. The message is what proves the health answer comes from this child and not from
 * another process holding the port (a second `npm start` used to pass its health checks on the
 * first fleet's services).
 */
export async function waitReady(child: Child, url: string, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  const failed = (why: string): Error =>
    new Error(`${why}${child.lastError === '' ? '' : `: ${child.lastError}`}`);
  let timer: NodeJS.Timeout | undefined;
  const listening = new Promise<string>((resolve) => {
    child.process.on('message', (message) => {
      if (isListening(message)) resolve(message.url);
    });
  });
  const reported = await Promise.race([
    listening,
    child.exited.then((exit) => {
      throw failed(`${describeExit(exit)} before it was listening`);
    }),
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(failed(`${child.name} did not report listening on ${url} within ${String(timeout)} ms`));
      }, timeout);
    }),
  ]).finally(() => {
    clearTimeout(timer);
  });
  if (reported !== url) throw new Error(`${child.name} listens on ${reported}, not on ${url}`);
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw failed(`${child.name} exited before it was healthy`);
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch {
      // not answering yet
    }
    await delay(100);
  }
  throw failed(`${child.name} did not answer ${url}/health within ${String(timeout)} ms`);
}

export async function stopChild(child: Child): Promise<void> {
  child.stopping = true;
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 5000);
  await child.exited;
  clearTimeout(timer);
}
