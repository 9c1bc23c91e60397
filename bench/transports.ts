// RPC and fan-out per transport (issue 23): WebSocket vs RawSocket, JSON and MessagePack, against bench/server.ts in
// a child process (RAWSOCKET_PORT=0).
//   node --import tsx bench/transports.ts [--calls 20000] [--window 100] [--subscribers 20] [--events 1000]
// RPC: `calls` bench.echo CALLs with `window` in flight, from one connection. Fan-out: `subscribers` sessions
// subscribe, one bench.burst publishes `events` EVENTs of 100 bytes to each. Prints rate and server CPU (/proc).
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { pack, unpack } from 'msgpackr'
import { cpuMs } from './proc-cpu.js'

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    window: { type: 'string', default: '100' },
    subscribers: { type: 'string', default: '20' },
    events: { type: 'string', default: '1000' },
    transports: { type: 'string', default: 'websocket.json,rawsocket.json,websocket.msgpack,rawsocket.msgpack' }
  }
})
const CALLS = Number(values.calls)
const WINDOW = Number(values.window)
const SUBSCRIBERS = Number(values.subscribers)
const EVENTS = Number(values.events)

interface Peer { onMessage: (m: unknown[]) => void, send: (m: unknown[]) => void, close: () => void }

function codec (serializer: string): { encode: (m: unknown[]) => Buffer, decode: (b: Buffer) => unknown[] } {
  return serializer === 'msgpack'
    ? { encode: (m) => pack(m), decode: (b) => unpack(b) as unknown[] }
    : { encode: (m) => Buffer.from(JSON.stringify(m)), decode: (b) => JSON.parse(b.toString()) as unknown[] }
}

async function open (kind: string, ports: { ws: number, rs: number }): Promise<Peer> {
  const [transport, serializer] = kind.split('.')
  const { encode, decode } = codec(serializer)
  const peer: Peer = { onMessage: () => {}, send: () => {}, close: () => {} }
  if (transport === 'websocket') {
    const ws = new WebSocket(`ws://127.0.0.1:${ports.ws}/ws`, [`wamp.2.${serializer}`])
    ws.on('message', (data: Buffer) => peer.onMessage(decode(data)))
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    peer.send = (m) => ws.send(encode(m), { binary: serializer === 'msgpack' })
    peer.close = () => ws.close()
  } else {
    const socket = connect({ host: '127.0.0.1', port: ports.rs, noDelay: true })
    await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    let buffer: Buffer = Buffer.alloc(0)
    let handshaken = false
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
      if (!handshaken) { handshaken = true; buffer = buffer.subarray(4) }
      let at = 0
      while (buffer.length - at >= 4) {
        const length = buffer.readUInt32BE(at) & 0xffffff
        if (buffer.length - at - 4 < length) break
        peer.onMessage(decode(buffer.subarray(at + 4, at + 4 + length)))
        at += 4 + length
      }
      buffer = buffer.subarray(at)
    })
    socket.write(Buffer.from([0x7f, 0xf0 | (serializer === 'msgpack' ? 2 : 1), 0, 0]))
    peer.send = (m) => {
      const data = encode(m)
      const head = Buffer.allocUnsafe(4)
      head.writeUInt32BE(data.length)
      socket.write(head)
      socket.write(data)
    }
    peer.close = () => socket.end()
  }
  await new Promise<void>((resolve, reject) => {
    peer.onMessage = (m) => { if (m[0] === 2) resolve(); else reject(new Error(`no WELCOME: ${JSON.stringify(m)}`)) }
    peer.send([1, 'realm1', { roles: { caller: {}, subscriber: {} } }])
  })
  return peer
}

async function rpc (kind: string, ports: { ws: number, rs: number }, pid: number): Promise<string> {
  const peer = await open(kind, ports)
  const cpu = cpuMs(pid)
  const start = process.hrtime.bigint()
  let sent = 0
  let done = 0
  await new Promise<void>((resolve) => {
    peer.onMessage = (m) => {
      if (m[0] !== 50) throw new Error(`unexpected ${JSON.stringify(m)}`)
      if (++done === CALLS) return resolve()
      if (sent < CALLS) peer.send([48, ++sent, {}, 'bench.echo', ['hello']])
    }
    while (sent < WINDOW && sent < CALLS) peer.send([48, ++sent, {}, 'bench.echo', ['hello']])
  })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  peer.close()
  return `| ${kind} | rpc | ${CALLS} | ${Math.round(CALLS / ms * 1000)} calls/s | ${cpuMs(pid) - cpu} ms |`
}

async function fanout (kind: string, ports: { ws: number, rs: number }, pid: number): Promise<string> {
  const subscribers: Peer[] = []
  let received = 0
  const total = SUBSCRIBERS * EVENTS
  let finished: () => void = () => {}
  const all = new Promise<void>((resolve) => { finished = resolve })
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const peer = await open(kind, ports)
    await new Promise<void>((resolve) => {
      peer.onMessage = () => resolve()
      peer.send([32, 1, {}, 'bench.transports'])
    })
    peer.onMessage = (m) => { if (m[0] === 36 && ++received === total) finished() }
    subscribers.push(peer)
  }
  const caller = await open(kind, ports)
  caller.onMessage = () => {}
  const cpu = cpuMs(pid)
  const start = process.hrtime.bigint()
  caller.send([48, 1, {}, 'bench.burst', [], { n: EVENTS, size: 100, topic: 'bench.transports' }])
  await all
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  for (const p of [...subscribers, caller]) p.close()
  return `| ${kind} | fan-out | ${total} | ${Math.round(total / ms * 1000)} events/s | ${cpuMs(pid) - cpu} ms |`
}

const server = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts'], { env: { ...process.env, PORT: '0', RAWSOCKET_PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
const ports = await new Promise<{ ws: number, rs: number }>((resolve) => {
  let out = ''
  server.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    const ws = /listening (\d+)/.exec(out)
    const rs = /rawsocket (\d+)/.exec(out)
    if (ws !== null && rs !== null) resolve({ ws: Number(ws[1]), rs: Number(rs[1]) })
  })
})
const pid = server.pid as number
const kinds = values.transports.split(',')
console.log('| transport | mode | messages | rate | server CPU |')
console.log('| --- | --- | --- | --- | --- |')
try {
  for (const kind of kinds) await rpc(kind, ports, pid) // warm-up
  for (let round = 0; round < 2; round++) {
    for (const kind of kinds) console.log(await rpc(kind, ports, pid))
    for (const kind of kinds) console.log(await fanout(kind, ports, pid))
  }
} finally {
  server.kill('SIGTERM')
}
