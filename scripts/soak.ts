// Soak and leak check (issue 7): `node --expose-gc --import tsx scripts/soak.ts [--duration 150] [--idle 5000]`
// (`npm run soak`; `--short` for a 15 s smoke run).
//
// The server runs in this process; the clients run in a child process, so heap and RSS figures are the server's
// alone. Phases: warm-up churn → GC → heap "before"; churn for --duration seconds (sessions that call, subscribe,
// get called back, receive fan-out events, and end by GOODBYE, by close without GOODBYE, or by an abrupt
// terminate — often with calls in flight) → GC → heap "after"; then --idle idle sessions (HELLO + one
// subscription) to measure the memory per idle session.

import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import WebSocket from 'ws'
import type { RawData } from 'ws'
import { pack, unpack } from 'msgpackr'
import fastifyWamp from '../index.js'

const argv = process.argv.slice(2)
function flag (name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? Number(argv[i + 1]) : fallback
}
const short = argv.includes('--short')
const DURATION = flag('duration', short ? 15 : 150)
const IDLE = flag('idle', short ? 1000 : 5000)
const CONCURRENCY = flag('concurrency', 40)
const MiB = 1024 * 1024

type Command = { cmd: 'churn', url: string, seconds: number } | { cmd: 'idle', url: string, count: number } | { cmd: 'release' }
type Report = { type: 'churned', sessions: number, failed: number, calls: number, events: number, goodbyes: number, closes: number, terminates: number, unanswered: number } |
{ type: 'idle-ready', count: number } | { type: 'released' }

// ---- client process ----------------------------------------------------------------------------------------------

if (argv.includes('--client')) {
  const idle: WebSocket[] = []
  process.on('message', (message: Command) => {
    if (message.cmd === 'churn') churn(message.url, message.seconds).catch(fail)
    else if (message.cmd === 'idle') openIdle(message.url, message.count).catch(fail)
    else {
      for (const ws of idle) ws.close()
      idle.length = 0
      process.send?.({ type: 'released' } satisfies Report)
    }
  })

  function fail (err: unknown): void {
    console.error(err)
    process.exit(1)
  }

  async function churn (url: string, seconds: number): Promise<void> {
    const stats = { type: 'churned' as const, sessions: 0, failed: 0, calls: 0, events: 0, goodbyes: 0, closes: 0, terminates: 0, unanswered: 0 }
    const end = Date.now() + seconds * 1000
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        await oneSession(url, stats).then(() => { stats.sessions++ }, async (err: Error) => {
          stats.failed++
          if (stats.failed <= 5) console.error(`soak: a session failed: ${err.message}`)
          await new Promise((resolve) => setTimeout(resolve, 100))
        })
      }
    }))
    process.send?.(stats satisfies Report)
  }

  async function openIdle (url: string, count: number): Promise<void> {
    for (let i = 0; i < count; i += 200) {
      await Promise.all(Array.from({ length: Math.min(200, count - i) }, async () => {
        const peer = await connect(url, 'wamp.2.json')
        peer.send([32, 1, {}, 'soak.news'])
        await peer.reply(1)
        idle.push(peer.ws)
      }))
    }
    process.send?.({ type: 'idle-ready', count: idle.length } satisfies Report)
  }
}

interface Peer { ws: WebSocket, send (msg: unknown[]): void, reply (id: number): Promise<unknown[]>, events: number, waiting: Map<number, unknown> }

async function connect (url: string, protocol: string): Promise<Peer> {
  const ws = new WebSocket(url, [protocol])
  const json = protocol === 'wamp.2.json'
  const waiting = new Map<number, { resolve: (msg: unknown[]) => void, reject: (err: Error) => void }>()
  const peer: Peer = {
    ws,
    events: 0,
    waiting,
    send: (msg) => { if (ws.readyState === WebSocket.OPEN) ws.send(json ? JSON.stringify(msg) : pack(msg)) },
    reply: (id) => new Promise((resolve, reject) => {
      waiting.set(id, { resolve: (msg) => { waiting.delete(id); resolve(msg) }, reject })
    })
  }
  ws.on('error', () => {})
  ws.once('close', () => { for (const w of waiting.values()) w.reject(new Error('closed')) })
  ws.on('message', (data: RawData) => {
    const msg = (json ? JSON.parse(data.toString()) : unpack(data as Buffer)) as unknown[]
    const type = msg[0]
    if (type === 36) peer.events++
    else if (type === 68) peer.send([70, msg[1], {}, [(msg[4] as unknown[] | undefined)?.[0] ?? null]]) // INVOCATION → YIELD
    else if (type === 2) waiting.get(0)?.resolve(msg)
    else if (type === 6 && msg[2] !== 'wamp.close.goodbye_and_out') peer.send([6, {}, 'wamp.close.goodbye_and_out'])
    else if (type !== 50 || (msg[2] as { progress?: boolean }).progress !== true) waiting.get(msg[1] as number)?.resolve(msg)
  })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const welcome = peer.reply(0)
  peer.send([1, 'realm1', { roles: { caller: {}, callee: {}, publisher: {}, subscriber: {} } }])
  await welcome
  return peer
}

interface Stats { calls: number, events: number, goodbyes: number, closes: number, terminates: number, unanswered: number }

async function oneSession (url: string, stats: Stats): Promise<void> {
  const peer = await connect(url, Math.random() < 0.5 ? 'wamp.2.json' : 'wamp.2.msgpack')
  // A request the server never answers would hang this worker: count it (it must stay 0) and move on.
  const watchdog = setTimeout(() => {
    stats.unanswered++
    console.error(`soak: no answer within 10 s to requests ${[...peer.waiting.keys()].join(', ')}`)
    peer.ws.terminate()
  }, 10_000)
  try {
    await exercise(peer, stats)
  } finally {
    clearTimeout(watchdog)
  }
}

async function exercise (peer: Peer, stats: Stats): Promise<void> {
  peer.send([32, 1, {}, 'soak.news'])
  peer.send([64, 2, {}, 'client.echo'])
  await Promise.all([peer.reply(1), peer.reply(2)])
  const rounds = 1 + Math.floor(Math.random() * 5)
  for (let i = 0; i < rounds; i++) {
    const id = 10 + i * 3
    peer.send([48, id, {}, 'soak.add', [i, 2]])
    peer.send([48, id + 1, {}, 'soak.callback', [i]])
    peer.send([16, id + 2, { acknowledge: true }, 'soak.chat', ['hello']])
    await Promise.all([peer.reply(id), peer.reply(id + 1), peer.reply(id + 2)])
    stats.calls += 2
  }
  peer.send([48, 99, { receive_progress: true }, 'soak.slow', []]) // in flight when the session ends
  stats.events += peer.events
  const ending = Math.random()
  if (ending < 0.4) {
    stats.goodbyes++
    peer.send([6, {}, 'wamp.close.close_realm'])
  } else if (ending < 0.7) {
    stats.closes++
    peer.ws.close()
  } else {
    stats.terminates++
    peer.ws.terminate()
  }
  await new Promise((resolve) => { if (peer.ws.readyState === WebSocket.CLOSED) resolve(undefined); else peer.ws.once('close', resolve) })
}

// ---- server process ----------------------------------------------------------------------------------------------

if (!argv.includes('--client')) await serve()

async function serve (): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc (npm run soak does)')
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { maxSessions: IDLE + 1000 })
  const wamp = app.wamp
  wamp.register('soak.add', ([a, b]) => (a as number) + (b as number))
  wamp.register('soak.slow', async (_a, _k, ctx) => {
    for (let i = 0; i < 20 && !ctx.signal.aborted; i++) {
      ctx.progress(i)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  })
  wamp.register('soak.callback', async ([n], _k, ctx) => (await ctx.session.call('client.echo', [n], undefined, { timeout: 5000 })).args[0])
  wamp.subscribe('soak.chat', () => {})
  const ticker = setInterval(() => wamp.publishToAll('soak.news', [Date.now(), 'x'.repeat(200)]), 20)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`

  const child = fork(fileURLToPath(import.meta.url), ['--client', '--concurrency', String(CONCURRENCY)], { execArgv: ['--import', 'tsx'] })
  child.once('exit', (code) => {
    if (code === 0 || code === null) return
    console.error(`soak: the client process exited with ${code}`)
    process.exit(1)
  })
  const ask = (command: Command, type: Report['type']): Promise<Report> => new Promise((resolve) => {
    const on = (report: Report): void => { if (report.type === type) { child.off('message', on); resolve(report) } }
    child.on('message', on)
    child.send(command)
  })

  const measure = async (): Promise<NodeJS.MemoryUsage> => {
    await until(() => wamp.connections === 0 || wamp.connections === expectIdle)
    for (let i = 0; i < 6; i++) {
      gc()
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return process.memoryUsage()
  }
  let expectIdle = -1

  const warmup = Math.min(10, Math.max(3, DURATION / 10))
  console.log(`warm-up churn ${warmup} s, then churn ${DURATION} s with ${CONCURRENCY} concurrent client sessions, then ${IDLE} idle sessions`)
  await ask({ cmd: 'churn', url, seconds: warmup }, 'churned')
  const before = await measure()
  const started = Date.now()
  const churned = await ask({ cmd: 'churn', url, seconds: DURATION }, 'churned')
  const after = await measure()
  const seconds = (Date.now() - started) / 1000

  clearInterval(ticker) // idle sessions are idle
  expectIdle = IDLE
  const empty = await measure()
  await ask({ cmd: 'idle', url, count: IDLE }, 'idle-ready')
  await until(() => wamp.sessions.size === IDLE)
  const idle = await measure()
  await ask({ cmd: 'release' }, 'released')
  expectIdle = -1
  const released = await measure()

  child.kill()
  await app.close()

  const mb = (n: number): string => `${(n / MiB).toFixed(1)} MiB`
  const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
  console.log(JSON.stringify(churned))
  console.log(`churn: ${(churned as { sessions: number }).sessions} sessions in ${seconds.toFixed(0)} s (${((churned as { sessions: number }).sessions / seconds).toFixed(0)}/s)`)
  console.log(`heap after GC: before churn ${mb(before.heapUsed)}, after churn ${mb(after.heapUsed)} (Δ ${mb(after.heapUsed - before.heapUsed)}); rss ${mb(before.rss)} → ${mb(after.rss)}`)
  console.log(`idle sessions: ${IDLE}: heap ${mb(empty.heapUsed)} → ${mb(idle.heapUsed)} = ${kb((idle.heapUsed - empty.heapUsed) / IDLE)} per session; ` +
    `rss ${mb(empty.rss)} → ${mb(idle.rss)} = ${kb((idle.rss - empty.rss) / IDLE)} per session; external+arrayBuffers ${kb((idle.external + idle.arrayBuffers - empty.external - empty.arrayBuffers) / IDLE)} per session`)
  console.log(`after the idle sessions left: heap ${mb(released.heapUsed)}`)
}

async function until (check: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('soak: timed out waiting for the server to settle')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
