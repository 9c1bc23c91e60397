// Measurements for issue 15 (security bounds), printed, never asserted:
//
//   node --expose-gc --import tsx scripts/guard-measure.ts cra-timing [--tries 1500]
//     HELLO → CHALLENGE time for a known vs an unknown WAMP-CRA authid (salted users, raw frames, one fresh
//     connection per try, known and unknown alternating). Prints mean, stdev and Welch's z of the difference.
//
//   node --expose-gc --import tsx scripts/guard-measure.ts handler-heap [--publishes 100000]
//     Heap after GC while one session's acknowledged PUBLISHes to a 2 s async topic handler are running
//     (maxTopicHandlersPerSession bounds them; the figure is with its default and with Infinity).

import Fastify from 'fastify'
import WebSocket from 'ws'
import type { RawData } from 'ws'
import fastifyWamp, { deriveCraKey } from '../index.js'
import type { FastifyWampOptions, WampCraUser } from '../index.js'

const argv = process.argv.slice(2)
function flag (name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? Number(argv[i + 1]) : fallback
}
const MiB = 1024 * 1024
const ROLES = { caller: {}, callee: {}, publisher: {}, subscriber: {} }

async function serve (options: FastifyWampOptions, setup?: (app: ReturnType<typeof Fastify>) => void): Promise<{ url: string, close: () => Promise<void> }> {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, options)
  setup?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { url: `ws://127.0.0.1:${port}/ws`, close: () => app.close() }
}

function open (url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['wamp.2.json'])
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

function next (ws: WebSocket): Promise<unknown[]> {
  return new Promise((resolve) => ws.once('message', (data: RawData) => resolve(JSON.parse(String(data)) as unknown[])))
}

function stats (xs: number[]): { mean: number, sd: number, median: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1))
  const sorted = [...xs].sort((a, b) => a - b)
  return { mean, sd, median: sorted[sorted.length >> 1] as number }
}

async function craTiming (): Promise<void> {
  const tries = flag('tries', 1500)
  const users = new Map<string, WampCraUser>()
  for (let i = 0; i < 100; i++) {
    const salt = `salt-${i}-0123456789abcdef`
    users.set(`user${i}`, { secret: deriveCraKey(`pw${i}`, salt, 1000, 32), salt, iterations: 1000, keylen: 32, authrole: i % 2 === 0 ? 'user' : 'admin' })
  }
  const server = await serve({ auth: { wampcra: { authenticate: (ctx) => users.get(ctx.authid as string) } } })
  const known: number[] = []
  const unknown: number[] = []
  const shapes = new Set<string>()
  for (let i = 0; i < tries * 2 + 100; i++) {
    const isKnown = i % 2 === 0
    const authid = isKnown ? `user${i % 100}` : `nobody${i}`
    const ws = await open(server.url)
    const answer = next(ws)
    const start = process.hrtime.bigint()
    ws.send(JSON.stringify([1, 'realm1', { roles: ROLES, authmethods: ['wampcra'], authid }]))
    const msg = await answer
    const us = Number(process.hrtime.bigint() - start) / 1000
    ws.terminate()
    const extra = msg[2] as Record<string, unknown>
    const info = JSON.parse(extra.challenge as string) as Record<string, unknown>
    shapes.add(JSON.stringify([msg[0], Object.keys(extra).sort(), Object.keys(info).sort(), info.authrole, info.authprovider, typeof extra.salt]))
    if (i < 100) continue // warm-up
    ;(isKnown ? known : unknown).push(us)
  }
  await server.close()
  const k = stats(known)
  const u = stats(unknown)
  const z = (k.mean - u.mean) / Math.sqrt(k.sd ** 2 / known.length + u.sd ** 2 / unknown.length)
  console.log(`HELLO → CHALLENGE, ${known.length} known and ${unknown.length} unknown authids (salted WAMP-CRA), µs:`)
  console.log(`  known   mean ${k.mean.toFixed(1)} stdev ${k.sd.toFixed(1)} median ${k.median.toFixed(1)}`)
  console.log(`  unknown mean ${u.mean.toFixed(1)} stdev ${u.sd.toFixed(1)} median ${u.median.toFixed(1)}`)
  console.log(`  z (known − unknown) = ${z.toFixed(2)}`)
  // Scheduling noise on a shared machine dominates the tail; an attacker would trim it too.
  const cut = [...known, ...unknown].sort((a, b) => a - b)[Math.floor((known.length + unknown.length) * 0.9)] as number
  const kt = stats(known.filter((x) => x <= cut))
  const ut = stats(unknown.filter((x) => x <= cut))
  const nk = known.filter((x) => x <= cut).length
  const nu = unknown.filter((x) => x <= cut).length
  const zt = (kt.mean - ut.mean) / Math.sqrt(kt.sd ** 2 / nk + ut.sd ** 2 / nu)
  console.log(`  without the slowest 10 % (pooled, > ${cut.toFixed(0)} µs): known mean ${kt.mean.toFixed(1)} stdev ${kt.sd.toFixed(1)} (n ${nk}), unknown mean ${ut.mean.toFixed(1)} stdev ${ut.sd.toFixed(1)} (n ${nu}), z = ${zt.toFixed(2)}`)
  console.log(`  distinct CHALLENGE shapes seen: ${shapes.size}${shapes.size === 1 ? '' : ' ' + [...shapes].join(' | ')}`)
}

async function handlerHeap (): Promise<void> {
  const publishes = flag('publishes', 100_000)
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc')
  for (const limit of [undefined, Infinity]) {
    let running = 0
    let peak = 0
    const server = await serve({ maxPayload: 64 * MiB, maxBufferedBytes: 256 * MiB, ...(limit === undefined ? {} : { maxTopicHandlersPerSession: limit }) } as FastifyWampOptions, (app) => {
      app.wamp.subscribe('app.slow', async () => {
        running++
        peak = Math.max(peak, running)
        await new Promise((resolve) => setTimeout(resolve, 2000))
        running--
      })
    })
    const ws = await open(server.url)
    const welcome = next(ws)
    ws.send(JSON.stringify([1, 'realm1', { roles: ROLES }]))
    await welcome
    const answers = { published: 0, refused: 0 }
    ws.on('message', (data: RawData) => {
      const type = (JSON.parse(String(data)) as unknown[])[0]
      if (type === 17) answers.published++
      else if (type === 8) answers.refused++
    })
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 1; i <= publishes; i++) ws.send(JSON.stringify([16, i, { acknowledge: true }, 'app.slow', [i]]))
    while (answers.published + answers.refused < publishes) await new Promise((resolve) => setTimeout(resolve, 20))
    gc()
    const during = process.memoryUsage().heapUsed
    console.log(`${publishes} acknowledged PUBLISHes to a 2 s async handler, maxTopicHandlersPerSession ${limit === undefined ? 'default' : String(limit)}:`)
    console.log(`  heap after GC ${(before / MiB).toFixed(1)} → ${(during / MiB).toFixed(1)} MiB while they run; handlers at once (peak) ${peak}; PUBLISHED ${answers.published}, ERROR ${answers.refused}`)
    ws.terminate()
    await server.close()
  }
}

const command = argv[0]
if (command === 'cra-timing') await craTiming()
else if (command === 'handler-heap') await handlerHeap()
else console.error('usage: guard-measure.ts cra-timing|handler-heap')
