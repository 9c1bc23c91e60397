// Redis for the scale-out tests: the shared server (REDIS_URL, default 127.0.0.1:6379, started by .ci/run), a
// key prefix per test so parallel test files never see each other, and a private redis-server child process for
// tests that kill and restart Redis.

import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { RedisFanout } from '../../index.js'
import type { FastifyWampOptions } from '../../index.js'
import { startApp, sleep } from './app.js'
import type { TestApp } from './app.js'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

interface Teardown { teardown (fn: () => unknown): void }

export function uniquePrefix (): string {
  return `fwtest:${randomBytes(6).toString('hex')}:`
}

/** A plain client for looking at Redis from the outside (PUBSUB NUMSUB…); quit at teardown. */
export function inspector (t: Teardown, url = REDIS_URL): Redis {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 })
  redis.on('error', () => {}) // a test that kills Redis sees it through the plugin, not through this client
  t.teardown(() => { redis.disconnect() })
  return redis
}

/** `n` instances of the app, each its own Fastify on its own port, sharing one Redis prefix. */
export async function startCluster (t: Teardown, n: number, options: FastifyWampOptions = {},
  setup?: (app: FastifyInstance, index: number) => unknown, url = REDIS_URL,
  fastifyOptions?: (index: number) => FastifyServerOptions): Promise<{ apps: TestApp[], prefix: string }> {
  const prefix = uniquePrefix()
  const apps: TestApp[] = []
  for (let i = 0; i < n; i++) {
    apps.push(await startApp(t, { fanout: new RedisFanout({ redis: url, prefix, heartbeat: 200 }), ...options },
      setup === undefined ? undefined : (app) => setup(app, i), fastifyOptions?.(i)))
  }
  return { apps, prefix }
}

/**
 * The commands Redis executed on keys or channels under `prefix` while `run` ran (MONITOR sees every client's, so they
 * are filtered by prefix; a marker command on each side fences the window, as MONITOR shows a command only once Redis
 * has executed it). Read over a plain socket: ioredis's monitor mode has thrown "Command queue state error" on a line
 * that arrived as the connection switched into it.
 */
export async function commandsDuring (t: Teardown, redis: Redis, prefix: string, run: () => Promise<unknown>, url = REDIS_URL): Promise<string[][]> {
  const commands: string[][] = []
  const { port, hostname } = new URL(url)
  const socket = connect(Number(port === '' ? 6379 : port), hostname)
  t.teardown(() => { socket.destroy() })
  await once(socket, 'connect')
  let pending = ''
  let monitoring = false
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8')
    let end: number
    while ((end = pending.indexOf('\r\n')) !== -1) {
      const line = pending.slice(0, end)
      pending = pending.slice(end + 2)
      if (line === '+OK') monitoring = true
      // +<time> [<db> <client>] "<command>" "<arg>" … (the first line is +OK)
      const args = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1'))
      if (args.some((a) => a.startsWith(prefix))) commands.push(args)
    }
  })
  socket.write('MONITOR\r\n')
  // Only a command executed after MONITOR's +OK is shown: the start fence must come after it.
  await eventually(() => monitoring, 3000, 'MONITOR running')
  const fence = async (name: string): Promise<number> => {
    await redis.get(`${prefix}fence:${name}`)
    await eventually(() => commands.some((c) => c[1] === `${prefix}fence:${name}`), 3000, `MONITOR sees fence:${name}`)
    return commands.findIndex((c) => c[1] === `${prefix}fence:${name}`)
  }
  const start = await fence('start')
  await run()
  const end = await fence('end')
  socket.destroy()
  return commands.slice(start + 1, end)
}

/** Resolves once Redis counts `n` subscribers on `channel` (UNSUBSCRIBE is asynchronous to the client's). */
export async function untilSubscribers (redis: Redis, channel: string, n: number, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    const [, count] = await redis.pubsub('NUMSUB', channel) as [string, number]
    if (Number(count) === n) return
    if (Date.now() > end) throw new Error(`timed out waiting for ${n} subscribers on ${channel} (have ${count})`)
    await sleep(10)
  }
}

/** Polls an async check until it is true. */
export async function eventually (check: () => Promise<boolean> | boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** A private redis-server on a free port (no persistence), which a test may stop and start again. */
export class RedisProcess {
  readonly port: number
  readonly url: string
  private child: ChildProcess | undefined

  private constructor (port: number) {
    this.port = port
    this.url = `redis://127.0.0.1:${port}`
    this.child = undefined
  }

  static async start (t: Teardown): Promise<RedisProcess> {
    const server = new RedisProcess(await freePort())
    t.teardown(() => server.stop())
    await server.start()
    return server
  }

  async start (): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          child.stdout?.off('data', onData)
          resolve()
        }
      }
      child.stdout?.on('data', onData)
      child.once('error', reject)
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${String(code)}: ${output}`)))
    })
    child.stdout?.resume()
    child.stderr?.resume()
  }

  /** SIGSTOP: Redis keeps its connections open but answers nothing (a hung server), until `resume()`. */
  pause (): void {
    this.child?.kill('SIGSTOP')
  }

  resume (): void {
    this.child?.kill('SIGCONT')
  }

  /** SIGKILL: Redis goes away without a goodbye, as in a crash. */
  async stop (): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    this.child = undefined
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    child.kill('SIGCONT') // a paused server dies only once it runs again
    await exited
  }
}
