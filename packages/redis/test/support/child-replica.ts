import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { AuthorizationServerStub } from '@bearer-guard/testkit';

export interface ChildReplica {
  readonly url: string;
  stop(): Promise<void>;
}

/** Start `replica-process.ts` in another Node process (tsx), sharing `redisUrl`. */
export async function startChildReplica(
  as: AuthorizationServerStub,
  redisUrl: string,
): Promise<ChildReplica> {
  const config = {
    redisUrl,
    as: {
      issuer: as.issuer,
      audience: as.audience,
      jwksUri: as.jwksUri,
      introspectionEndpoint: as.introspectionEndpoint,
      introspectionClient: as.introspectionClient,
    },
  };
  const script = fileURLToPath(new URL('replica-process.ts', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the child replica did not start within 15 s:\n${output}`));
    }, 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const found = /listening (\S+)/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]!);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the child replica exited (${String(code)}):\n${output}`));
    });
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) =>
        child.once('exit', () => {
          resolve();
        }),
      );
      child.kill('SIGTERM');
      await exited;
    },
  };
}
