// Batched vs unbatched WebSocket subprotocols (issue 23), against bench/server.ts in a child process.
//   node --import tsx bench/batched.ts [--calls 5000] [--window 100] [--subscribers 20] [--events 1000]
// RPC: `calls` bench.echo CALLs with `window` in flight (a batched client sends each window refill as one batch).
// Fan-out: `subscribers` sessions subscribe, one bench.burst publishes `events` EVENTs of 100 bytes to each.
// Prints wall time, server CPU (from /proc) and the WebSocket messages the clients received, per subprotocol.
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { pack, unpack } from 'msgpackr'
import { cpuMs } from './proc-cpu.js'

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '5000' },
    window: { type: 'string', default: '100' },
    subscribers: { type: 'string', default: '20' },
    events: { type: 'string', default: '1000' },
    protocols: { type: 'string', default: 'wamp.2.json,wamp.2.json.batched,wamp.2.msgpack,wamp.2.msgpack.batched' }
  }
})
const CALLS = Number(values.calls)
const WINDOW = Number(values.window)
const SUBSCRIBERS = Number(values.subscribers)
const EVENTS = Number(values.events)

interface Peer { ws: WebSocket, frames: number, onMessage: (m: unknown[]) => void, send: (msgs: unknown[][]) => void }

function open (url: string, protocol: string): Promise<Peer> {
  const binary = protocol.startsWith('wamp.2.msgpack')
  const batched = protocol.endsWith('.batched')
  const ws = new WebSocket(url, [protocol])
  const encode = (m: unknown[]): Buffer => binary ? pack(m) : Buffer.from(JSON.stringify(m))
  const peer: Peer = {
    ws,
    frames: 0,
    onMessage: () => {},
    send (msgs) {
      if (!batched) { for (const m of msgs) ws.send(encode(m), { binary }); return }
      const parts: Buffer[] = []
      for (const m of msgs) {
        const data = encode(m)
        if (binary) { const l = Buffer.alloc(4); l.writeUInt32BE(data.length); parts.push(l, data) } else parts.push(data, Buffer.from([0x1e]))
      }
      ws.send(Buffer.concat(parts), { binary })
    }
  }
  const decode = (b: Buffer): unknown[] => (binary ? unpack(b) : JSON.parse(b.toString())) as unknown[]
  ws.on('message', (data: Buffer) => {
    peer.frames++
    if (!batched) return peer.onMessage(decode(data))
    let at = 0
    if (binary) {
      while (at < data.length) { const l = data.readUInt32BE(at); peer.onMessage(decode(data.subarray(at + 4, at + 4 + l))); at += 4 + l }
    } else {
      for (let i = 0; i < data.length; i++) if (data[i] === 0x1e) { peer.onMessage(decode(data.subarray(at, i))); at = i + 1 }
    }
  })
  return new Promise((resolve, reject) => {
    ws.once('error', reject)
    ws.once('open', () => {
      peer.onMessage = (m) => { if (m[0] === 2) resolve(peer); else reject(new Error(`no WELCOME: ${JSON.stringify(m)}`)) }
      peer.send([[1, 'realm1', { roles: { caller: {}, subscriber: {} } }]])
    })
  })
}

async function rpc (url: string, protocol: string, pid: number): Promise<string> {
  const peer = await open(url, protocol)
  const cpu = cpuMs(pid)
  const start = process.hrtime.bigint()
  let sent = 0
  let done = 0
  await new Promise<void>((resolve) => {
    const refill = (room: number): void => {
      const batch: unknown[][] = []
      while (room-- > 0 && sent < CALLS) batch.push([48, ++sent, {}, 'bench.echo', ['hello']])
      if (batch.length > 0) peer.send(batch)
    }
    let freed = 0
    peer.onMessage = (m) => {
      if (m[0] !== 50) throw new Error(`unexpected ${JSON.stringify(m)}`)
      if (++done === CALLS) return resolve()
      // Refill once the window is half empty, so that a batch holds several calls.
      if (++freed >= WINDOW / 2) { refill(freed); freed = 0 }
    }
    peer.frames = 0
    refill(WINDOW)
  })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  const line = `| ${protocol} | rpc | ${CALLS} | ${Math.round(CALLS / ms * 1000)} calls/s | ${cpuMs(pid) - cpu} ms | ${peer.frames} |`
  peer.ws.close()
  return line
}

async function fanout (url: string, protocol: string, pid: number): Promise<string> {
  const subscribers: Peer[] = []
  let received = 0
  const total = SUBSCRIBERS * EVENTS
  let finished: () => void = () => {}
  const all = new Promise<void>((resolve) => { finished = resolve })
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const peer = await open(url, protocol)
    await new Promise<void>((resolve) => {
      peer.onMessage = () => resolve()
      peer.send([[32, 1, {}, 'bench.batched']])
    })
    peer.onMessage = (m) => { if (m[0] === 36 && ++received === total) finished() }
    peer.frames = 0
    subscribers.push(peer)
  }
  const caller = await open(url, protocol)
  caller.onMessage = () => {}
  const cpu = cpuMs(pid)
  const start = process.hrtime.bigint()
  caller.send([[48, 1, {}, 'bench.burst', [], { n: EVENTS, size: 100, topic: 'bench.batched' }]])
  await all
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  const frames = subscribers.reduce((sum, p) => sum + p.frames, 0)
  for (const p of [...subscribers, caller]) p.ws.close()
  return `| ${protocol} | fan-out | ${total} | ${Math.round(total / ms * 1000)} events/s | ${cpuMs(pid) - cpu} ms | ${frames} |`
}

const server = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts'], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
const port = await new Promise<number>((resolve) => {
  server.stdout.on('data', (d: Buffer) => { const m = /listening (\d+)/.exec(d.toString()); if (m !== null) resolve(Number(m[1])) })
})
const url = `ws://127.0.0.1:${port}/ws`
const pid = server.pid as number
console.log('| subprotocol | mode | messages | rate | server CPU | WebSocket messages received |')
console.log('| --- | --- | --- | --- | --- | --- |')
try {
  for (const protocol of values.protocols.split(',')) await rpc(url, protocol, pid) // warm-up
  for (let round = 0; round < 2; round++) {
    for (const protocol of values.protocols.split(',')) console.log(await rpc(url, protocol, pid))
    for (const protocol of values.protocols.split(',')) console.log(await fanout(url, protocol, pid))
  }
} finally {
  server.kill('SIGTERM')
}
