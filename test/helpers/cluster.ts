// Cluster-wide RPC tests: instances with RedisFanout({ rpc: true }) sharing one prefix, in-process or in a child.

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { RedisFanout } from '../../index.js'
import type { FastifyWampOptions } from '../../index.js'
import type { RedisFanoutOptions } from '../../lib/cluster/redis-fanout.js'
import { startApp } from './app.js'
import type { TestApp } from './app.js'
import { eventually, REDIS_URL, uniquePrefix } from './redis.js'

interface Teardown { teardown (fn: () => unknown): void }

/** `n` in-process instances with cluster-wide RPC (heartbeat 200 ms unless `fanout` says otherwise). */
export async function rpcCluster (t: Teardown, n: number, options: FastifyWampOptions = {},
  setup?: (app: FastifyInstance, i: number) => unknown, url = REDIS_URL,
  fanout: Partial<RedisFanoutOptions> = {}, prefix = uniquePrefix()): Promise<{ apps: TestApp[], prefix: string }> {
  const apps: TestApp[] = []
  for (let i = 0; i < n; i++) {
    apps.push(await startApp(t, { fanout: new RedisFanout({ redis: url, prefix, heartbeat: 200, rpc: true, ...fanout }), ...options },
      setup === undefined ? undefined : (app) => setup(app, i)))
  }
  return { apps, prefix }
}

/** Resolves once the cluster registry lists `n` callees of `uri`. */
export async function untilRegistered (redis: Redis, prefix: string, uri: string, n: number, realm = 'realm1'): Promise<void> {
  await eventually(async () => (await redis.hlen(`${prefix}rpc:reg:${realm}:${uri}`)) === n, 3000, `${n} registrations of ${uri}`)
}

export const root = fileURLToPath(new URL('../..', import.meta.url))

// From the compiled test mirror (scripts/build-tests.ts) the child runs compiled too, without tsx's startup.
const instanceEntry = import.meta.url.endsWith('.js')
  ? ['--enable-source-maps', 'test/helpers/cluster-instance.js']
  : ['--import', 'tsx', 'test/helpers/cluster-instance.ts']

/** An instance in a child process (test/helpers/cluster-instance.ts), which a test may SIGKILL. */
export async function spawnInstance (t: Teardown, url: string, prefix: string, heartbeat: number, router: boolean | 'testament' = false): Promise<{ child: ChildProcess, port: number, instance: string }> {
  const child = spawn(process.execPath, [...instanceEntry, url, prefix, String(heartbeat), ...(router === 'testament' ? ['testament'] : router ? ['router'] : [])],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const line = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')))
    })
    child.once('exit', (code) => reject(new Error(`instance exited with ${String(code)}`)))
  })
  const { port, instance } = JSON.parse(line) as { port: number, instance: string }
  return { child, port, instance }
}
