// Cost of pattern registrations and subscriptions (issue 15): 30 sessions each REGISTER 1,000 prefixes in router
// mode (time per session, then the event-loop stall while they all close), and `publishToAll` with 100,000 pattern
// subscriptions (100 sessions × 1,000). Run: `npx tsx bench/patterns.ts`. Figures only, no assertions.
import Fastify from 'fastify'
import WebSocket from 'ws'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import fastifyWamp from '../index.js'

interface Client { ws: WebSocket, request: (msgs: unknown[][], answer: number) => Promise<void> }

async function connect (url: string): Promise<Client> {
  const ws = new WebSocket(url, ['wamp.2.json'])
  let waiting: { left: number, done: () => void } | undefined
  ws.on('message', (data: Buffer) => {
    const type = (JSON.parse(data.toString()) as unknown[])[0]
    if (waiting !== undefined && (type === 2 || type === 65 || type === 33)) {
      if (--waiting.left === 0) waiting.done()
    }
  })
  await new Promise((resolve) => ws.once('open', resolve))
  const request = (msgs: unknown[][], answers: number): Promise<void> => new Promise((resolve) => {
    waiting = { left: answers, done: resolve }
    for (const m of msgs) ws.send(JSON.stringify(m))
  })
  await request([[1, 'realm1', { roles: { caller: {}, callee: {}, subscriber: {} } }]], 1)
  return { ws, request }
}

async function start (): Promise<{ url: string, close: () => Promise<void>, app: ReturnType<typeof Fastify> }> {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { realms: [{ name: 'realm1', router: true }], maxSessions: 1000 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { url: `ws://127.0.0.1:${port}/ws`, close: () => app.close(), app }
}

async function registrations (): Promise<void> {
  const { url, close, app } = await start()
  const clients: Client[] = []
  const times: number[] = []
  for (let s = 0; s < 30; s++) {
    const client = await connect(url)
    clients.push(client)
    const msgs = Array.from({ length: 1000 }, (_, j) => [64, j + 1, { match: 'prefix' }, `com.s${s}.p${j}.`])
    const t0 = performance.now()
    await client.request(msgs, 1000)
    times.push(performance.now() - t0)
  }
  console.log(`1,000 prefix REGISTERs: session 1 ${times[0].toFixed(0)} ms, session 10 ${times[9].toFixed(0)} ms, session 30 ${times[29].toFixed(0)} ms`)
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  const t0 = performance.now()
  for (const c of clients) c.ws.terminate()
  while (app.wamp.sessions.size > 0) await new Promise((resolve) => setImmediate(resolve))
  delay.disable()
  console.log(`cleanup of 30,000 registrations: ${(performance.now() - t0).toFixed(0)} ms, longest event-loop stall ${(delay.max / 1e6).toFixed(0)} ms`)
  await close()
}

async function subscriptions (): Promise<void> {
  const { url, close, app } = await start()
  const clients: Client[] = []
  for (let s = 0; s < 100; s++) {
    const client = await connect(url)
    clients.push(client)
    const msgs = Array.from({ length: 1000 }, (_, j) => j % 2 === 0
      ? [32, j + 1, { match: 'prefix' }, `com.s${s}.t${j}.`]
      : [32, j + 1, { match: 'wildcard' }, `com.s${s}..t${j}`])
    await client.request(msgs, 1000)
  }
  for (const [label, topic] of [['no match', 'org.example.topic'], ['one prefix match', 'com.s7.t10.x']]) {
    const n = 1000
    const t0 = performance.now()
    for (let i = 0; i < n; i++) app.wamp.publishToAll(topic, [i])
    console.log(`publishToAll with 100,000 pattern subscriptions (${label}): ${((performance.now() - t0) / n * 1000).toFixed(1)} µs per publication`)
  }
  for (const c of clients) c.ws.terminate()
  while (app.wamp.sessions.size > 0) await new Promise((resolve) => setImmediate(resolve))
  await close()
}

await registrations()
await subscriptions()
