// HTTP long-poll (issue 23) against WebSocket, against bench/server.ts (BENCH_LONGPOLL=1) in a child process.
//   node --import tsx bench/longpoll.ts [--calls 2000] [--window 50] [--subscribers 10] [--events 1000]
// RPC: `calls` bench.echo CALLs with `window` in flight; unbatched long-poll sends one POST per CALL (as
// autobahn-js does) and gets one RESULT per receive; batched sends each window refill as one POST.
// Fan-out: `subscribers` sessions subscribe, one bench.burst publishes `events` EVENTs of 100 bytes to each.
// Prints wall time, server CPU (from /proc) and the HTTP requests (or WebSocket messages) the clients used.
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { Agent, setGlobalDispatcher } from 'undici'
import { cpuMs } from './proc-cpu.js'

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    window: { type: 'string', default: '50' },
    subscribers: { type: 'string', default: '10' },
    events: { type: 'string', default: '1000' }
  }
})
const CALLS = Number(values.calls)
const WINDOW = Number(values.window)
const SUBSCRIBERS = Number(values.subscribers)
const EVENTS = Number(values.events)
setGlobalDispatcher(new Agent({ connections: 256, pipelining: 1 }))

interface Peer {
  requests: number
  onMessage: (m: unknown[]) => void
  send: (msgs: unknown[][]) => Promise<void>
  close: () => Promise<void>
}

async function post (url: string, body?: string): Promise<{ status: number, text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, ...(body !== undefined && { body }) })
  return { status: res.status, text: await res.text() }
}

async function openLongPoll (base: string, protocol: string): Promise<Peer> {
  const batched = protocol.endsWith('.batched')
  const opened = JSON.parse((await post(base + '/open', JSON.stringify({ protocols: [protocol] }))).text) as { transport: string }
  const url = `${base}/${opened.transport}`
  const state = { running: true }
  const peer: Peer = {
    requests: 0,
    onMessage: () => {},
    async send (msgs) {
      if (batched) {
        peer.requests++
        await post(url + '/send', msgs.map((m) => JSON.stringify(m) + '\x1e').join(''))
      } else {
        await Promise.all(msgs.map((m) => { peer.requests++; return post(url + '/send', JSON.stringify(m)) }))
      }
    },
    async close () {
      state.running = false
      await post(url + '/close')
    }
  }
  const poll = async (): Promise<void> => {
    while (state.running) {
      peer.requests++
      const { status, text } = await post(url + '/receive')
      if (status === 404) return
      if (status !== 200) continue
      if (!batched) peer.onMessage(JSON.parse(text) as unknown[])
      else for (const part of text.split('\x1e').slice(0, -1)) peer.onMessage(JSON.parse(part) as unknown[])
    }
  }
  poll().catch((err: unknown) => { console.error(err) })
  return peer
}

function openWebSocket (url: string): Promise<Peer> {
  const ws = new WebSocket(url, ['wamp.2.json'])
  const peer: Peer = {
    requests: 0,
    onMessage: () => {},
    async send (msgs) { for (const m of msgs) ws.send(JSON.stringify(m)) },
    close () { ws.close(); return new Promise((resolve) => ws.once('close', () => resolve())) }
  }
  ws.on('message', (data: Buffer) => { peer.requests++; peer.onMessage(JSON.parse(data.toString()) as unknown[]) })
  return new Promise((resolve, reject) => { ws.once('open', () => resolve(peer)); ws.once('error', reject) })
}

async function join (peer: Peer): Promise<void> {
  const welcome = new Promise<void>((resolve) => { peer.onMessage = (m) => { if (m[0] === 2) resolve() } })
  await peer.send([[1, 'realm1', { roles: { caller: {}, subscriber: {} } }]])
  await welcome
}

async function rpc (peer: Peer): Promise<number> {
  let sent = 0
  let done = 0
  const start = Date.now()
  await new Promise<void>((resolve) => {
    const refill = (): void => {
      const batch: unknown[][] = []
      while (sent < CALLS && sent - done < WINDOW) batch.push([48, ++sent, {}, 'bench.echo', ['x']])
      if (batch.length > 0) peer.send(batch).catch((err: unknown) => { console.error(err) })
    }
    peer.onMessage = (m) => {
      if (m[0] !== 50) return
      if (++done === CALLS) return resolve()
      if (sent - done <= WINDOW / 2) refill()
    }
    refill()
  })
  return Date.now() - start
}

async function fanout (peers: Peer[], caller: Peer): Promise<number> {
  let subscribed = 0
  await new Promise<void>((resolve) => {
    for (const p of peers) {
      p.onMessage = (m) => { if (m[0] === 33 && ++subscribed === peers.length) resolve() }
      p.send([[32, 1, {}, 'bench.topic']]).catch((err: unknown) => { console.error(err) })
    }
  })
  let received = 0
  const start = Date.now()
  const all = new Promise<void>((resolve) => {
    for (const p of peers) p.onMessage = (m) => { if (m[0] === 36 && ++received === EVENTS * peers.length) resolve() }
  })
  caller.onMessage = () => {}
  await caller.send([[48, 1, {}, 'bench.burst', [], { n: EVENTS, size: 100 }]])
  await all
  return Date.now() - start
}

const server = spawn(process.execPath, ['--import', 'tsx', new URL('./server.ts', import.meta.url).pathname], {
  env: { ...process.env, PORT: '0', BENCH_LONGPOLL: '1' }, stdio: ['ignore', 'pipe', 'inherit']
})
const port = await new Promise<number>((resolve) => {
  server.stdout.on('data', (d: Buffer) => { const m = /listening (\d+)/.exec(d.toString()); if (m !== null) resolve(Number(m[1])) })
})
const pid = server.pid as number
const lp = `http://127.0.0.1:${port}/lp`
const ws = `ws://127.0.0.1:${port}/ws`

console.log('| transport | RPC calls/s | RPC server CPU | RPC requests | fan-out events/s | fan-out server CPU | fan-out requests |')
console.log('|---|---|---|---|---|---|---|')
for (const kind of ['websocket wamp.2.json', 'longpoll wamp.2.json', 'longpoll wamp.2.json.batched']) {
  const [transport, protocol] = kind.split(' ')
  const connect = (): Promise<Peer> => transport === 'websocket' ? openWebSocket(ws) : openLongPoll(lp, protocol)
  const caller = await connect()
  await join(caller)
  let cpu0 = cpuMs(pid)
  let r0 = caller.requests
  const rpcMs = await rpc(caller)
  const rpcCpu = cpuMs(pid) - cpu0
  const rpcRequests = caller.requests - r0
  const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, connect))
  await Promise.all(subscribers.map(join))
  cpu0 = cpuMs(pid)
  r0 = subscribers.reduce((n, p) => n + p.requests, 0)
  const fanMs = await fanout(subscribers, caller)
  const fanCpu = cpuMs(pid) - cpu0
  const fanRequests = subscribers.reduce((n, p) => n + p.requests, 0) - r0
  await Promise.all([caller, ...subscribers].map((p) => p.close()))
  console.log(`| ${kind} | ${Math.round(CALLS / rpcMs * 1000)} | ${rpcCpu} ms | ${rpcRequests} | ${Math.round(EVENTS * SUBSCRIBERS / fanMs * 1000)} | ${fanCpu} ms | ${fanRequests} |`)
}
server.kill('SIGTERM')
