// Cross-instance fan-out through Redis: two fastify-wamp instances (child processes) share one Redis prefix;
// S subscribers connect to instance B, a caller asks instance A to publish N events (`bench.burst`), and we time
// until every subscriber has every EVENT. The same run with the subscribers on A gives the in-process figure.
// Prints one JSON line: { remote: {events_per_s, …}, local: {…}, ratio }.
// Usage: npx tsx bench/fanout-redis.ts [--subscribers 100] [--events 2000] [--size 100] [--rounds 3]
//        [--serializer json|msgpack] [--redis redis://127.0.0.1:6379] [--quick]
// (internal: --instance starts one server; env PORT, REDIS_URL, PREFIX)
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { pack, unpack } from 'msgpackr'
import { Redis } from 'ioredis'
import Fastify from 'fastify'
import fastifyWamp, { RedisFanout } from '../index.js'

const { values: flags } = parseArgs({
  options: {
    instance: { type: 'boolean', default: false },
    subscribers: { type: 'string', default: '100' },
    events: { type: 'string', default: '2000' },
    size: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    serializer: { type: 'string', default: 'json' },
    redis: { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    quick: { type: 'boolean', default: false }
  }
})

if (flags.instance) await instance()
else await main()

// ---- one instance --------------------------------------------------------------------------------------------

async function instance (): Promise<void> {
  const app = Fastify({ logger: false })
  const fanout = new RedisFanout({ redis: process.env.REDIS_URL as string, prefix: process.env.PREFIX as string })
  await app.register(fastifyWamp, { path: '/ws', realm: 'realm1', fanout, maxSessions: 100_000 })
  app.wamp.register('bench.burst', (_args, kwargs) => {
    const payload = 'x'.repeat(Number(kwargs.size ?? 100))
    const n = Number(kwargs.n ?? 1000)
    let local = 0
    for (let i = 0; i < n; i++) local += app.wamp.publishToAll('bench.fan', [payload])
    return local
  })
  app.wamp.register('bench.stats', () => ({ ...app.wamp.fanout.stats, lastError: undefined }))
  await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
  const address = app.server.address()
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`)
  process.once('SIGTERM', () => { app.close().finally(() => process.exit(0)) })
}

// ---- the driver ----------------------------------------------------------------------------------------------

interface Figure { events_per_s: number, publications_per_s: number, ms: number, delivered: number, expected: number }

async function main (): Promise<void> {
  const subscribers = Number(flags.quick ? 20 : flags.subscribers)
  const events = Number(flags.quick ? 500 : flags.events)
  const rounds = Number(flags.quick ? 1 : flags.rounds)
  const size = Number(flags.size)
  const serializer = flags.serializer === 'msgpack' ? 'msgpack' : 'json'
  const prefix = `bench:${randomBytes(4).toString('hex')}:`
  const redis = new Redis(flags.redis)
  const children: ChildProcess[] = []
  try {
    const [a, b] = [await startInstance(flags.redis, prefix, children), await startInstance(flags.redis, prefix, children)]
    const caller = await connect(a, serializer)
    const remote = await measure(caller, b, subscribers, events, size, rounds, serializer, async () => {
      // Wait until instance B's Redis subscription is in place.
      for (;;) {
        const [, n] = await redis.pubsub('NUMSUB', `${prefix}realm1:t:bench.fan`) as [string, number]
        if (Number(n) >= 1) return
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    })
    const local = await measure(caller, a, subscribers, events, size, rounds, serializer, async () => {})
    caller.ws.close()
    console.log(JSON.stringify({
      bench: 'fanout-redis',
      serializer,
      subscribers,
      events,
      size,
      rounds,
      remote,
      local,
      ratio: Math.round((remote.events_per_s / local.events_per_s) * 100) / 100
    }))
  } finally {
    redis.disconnect()
    for (const child of children) child.kill('SIGTERM')
  }
}

async function startInstance (url: string, prefix: string, children: ChildProcess[]): Promise<number> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--instance'], {
    env: { ...process.env, REDIS_URL: url, PREFIX: prefix, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  children.push(child)
  return await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const m = /listening (\d+)/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    child.once('exit', (code) => reject(new Error(`instance exited with ${String(code)}`)))
  })
}

interface Client { ws: WebSocket, encode: (m: unknown[]) => string | Buffer, decode: (d: Buffer, binary: boolean) => unknown[] }

async function connect (port: number, serializer: 'json' | 'msgpack'): Promise<Client> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, [`wamp.2.${serializer}`])
  const client: Client = {
    ws,
    encode: serializer === 'json' ? (m) => JSON.stringify(m) : (m) => pack(m),
    decode: serializer === 'json' ? (d) => JSON.parse(d.toString()) as unknown[] : (d) => unpack(d) as unknown[]
  }
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  ws.send(client.encode([1, 'realm1', { roles: { subscriber: {}, caller: {} } }]))
  await next(client, 2)
  return client
}

function next (client: Client, type: number): Promise<unknown[]> {
  return new Promise((resolve) => {
    const onMessage = (data: Buffer, binary: boolean): void => {
      const msg = client.decode(data, binary)
      if (msg[0] !== type) return
      client.ws.off('message', onMessage)
      resolve(msg)
    }
    client.ws.on('message', onMessage)
  })
}

async function measure (caller: Client, port: number, subscribers: number, events: number, size: number, rounds: number,
  serializer: 'json' | 'msgpack', ready: () => Promise<void>): Promise<Figure> {
  const subs: Client[] = []
  for (let i = 0; i < subscribers; i++) {
    const client = await connect(port, serializer)
    client.ws.send(client.encode([32, 1, {}, 'bench.fan']))
    await next(client, 33)
    subs.push(client)
  }
  await ready()
  const expected = events * subscribers
  let delivered = 0
  let want = 0
  let done: (() => void) | undefined
  for (const sub of subs) {
    sub.ws.on('message', (data: Buffer) => {
      // Count EVENTs without decoding them, so the subscribers' process is not what limits the figure:
      // JSON `[36,` / msgpack fixarray + fixint 36.
      if (serializer === 'json' ? !(data[1] === 0x33 && data[2] === 0x36) : data[1] !== 36) return
      if (++delivered === want) done?.()
    })
  }
  const burst = async (n: number): Promise<number> => {
    delivered = 0
    want = n * subscribers
    const all = new Promise<void>((resolve) => { done = resolve })
    const timer = setTimeout(() => { done?.() }, 60_000)
    const start = process.hrtime.bigint()
    caller.ws.send(caller.encode([48, 1, {}, 'bench.burst', [], { n, size }]))
    await all
    clearTimeout(timer)
    if (delivered < want) throw new Error(`lost events: ${want - delivered} of ${want}`)
    return Number(process.hrtime.bigint() - start) / 1e6
  }
  await burst(Math.max(1, Math.floor(events / 10))) // warm-up
  const times: number[] = []
  for (let r = 0; r < rounds; r++) times.push(await burst(events))
  for (const sub of subs) sub.ws.close()
  times.sort((x, y) => x - y)
  const ms = times[Math.floor(times.length / 2)]
  return {
    events_per_s: Math.round(expected / (ms / 1000)),
    publications_per_s: Math.round(events / (ms / 1000)),
    ms: Math.round(ms),
    delivered: expected,
    expected
  }
}
