// The callee side of the client → client benchmark (router mode), which bench/wampbench/wampbench.mjs lacks:
// N sessions REGISTER `bench.echo.client` with invoke roundrobin and YIELD every INVOCATION's args back unchanged.
// wampbench's `rpc` mode with `--procedure bench.echo.client` then measures calls that go caller → plugin → callee
// → plugin → caller.
// Usage: tsx bench/callee.ts --url ws://127.0.0.1:18081/ws [--serializer json|msgpack] [--sessions 4]
//        [--procedure bench.echo.client] [--realm realm1]
// Prints `ready <sessions>` on stdout once every session has registered, then one JSON line with its counts when
// stopped (SIGTERM/SIGINT: GOODBYE, then exit). Exits 1 on any ERROR, ABORT or unexpected message.
import WebSocket from 'ws'
import { Packr } from 'msgpackr'
import { parseArgs } from 'node:util'

const { values: flags } = parseArgs({
  options: {
    url: { type: 'string', default: 'ws://127.0.0.1:18081/ws' },
    serializer: { type: 'string', default: 'json' },
    sessions: { type: 'string', default: '4' },
    procedure: { type: 'string', default: 'bench.echo.client' },
    realm: { type: 'string', default: 'realm1' }
  }
})

const T = { HELLO: 1, WELCOME: 2, ABORT: 3, GOODBYE: 6, ERROR: 8, REGISTER: 64, REGISTERED: 65, INVOCATION: 68, INTERRUPT: 69, YIELD: 70 }
const packr = new Packr({ useRecords: false, int64AsType: 'number' } as ConstructorParameters<typeof Packr>[0])
const binary = flags.serializer === 'msgpack'
if (!binary && flags.serializer !== 'json') throw new Error(`unknown serializer '${flags.serializer}' (json|msgpack)`)
const encode = (msg: unknown[]): string | Buffer => binary ? packr.pack(msg) : JSON.stringify(msg)
const decode = (data: Buffer): unknown[] => (binary ? packr.unpack(data) : JSON.parse(data.toString())) as unknown[]
const EMPTY = {}

// Like wampbench's clients, a session's frames of one tick leave in one write (the TCP socket stays corked until the
// next tick), so the callee side costs the server no more reads than the caller side does.
function send (ws: WebSocket, msg: unknown[]): void {
  const socket = (ws as unknown as { _socket?: { cork: () => void, uncork: () => void } })._socket
  const corked = ws as unknown as { corked?: boolean }
  if (socket !== undefined && corked.corked !== true) {
    corked.corked = true
    socket.cork()
    process.nextTick(() => { corked.corked = false; socket.uncork() })
  }
  ws.send(encode(msg))
}

let invocations = 0
let failures = 0
const fail = (why: string): void => {
  failures++
  process.stderr.write(`[callee] ${why}\n`)
}

/** One callee session: HELLO → WELCOME → REGISTER → REGISTERED, then echoes every INVOCATION. */
function open (): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(flags.url, [`wamp.2.${flags.serializer}`])
    ws.on('error', reject)
    ws.on('open', () => ws.send(encode([T.HELLO, flags.realm, { roles: { callee: { features: { shared_registration: true } } } }])))
    ws.on('message', (data: Buffer) => {
      const msg = decode(data)
      switch (msg[0]) {
        case T.INVOCATION:
          invocations++
          send(ws, msg.length > 4 ? [T.YIELD, msg[1], EMPTY, msg[4]] : [T.YIELD, msg[1], EMPTY])
          return
        case T.WELCOME: return ws.send(encode([T.REGISTER, 1, { invoke: 'roundrobin' }, flags.procedure]))
        case T.REGISTERED: return resolve(ws)
        case T.GOODBYE: return ws.close(1000)
        default:
          fail(`unexpected ${JSON.stringify(msg).slice(0, 200)}`)
          if (msg[0] === T.ABORT || msg[0] === T.ERROR) reject(new Error(JSON.stringify(msg)))
      }
    })
  })
}

const sessions = await Promise.all(Array.from({ length: Number(flags.sessions) }, open))
process.stdout.write(`ready ${sessions.length}\n`)

function stop (): void {
  for (const ws of sessions) if (ws.readyState === WebSocket.OPEN) ws.send(encode([T.GOODBYE, EMPTY, 'wamp.close.normal']))
  setTimeout(() => {
    process.stdout.write(JSON.stringify({ sessions: sessions.length, invocations, failures }) + '\n')
    process.exit(failures > 0 ? 1 : 0)
  }, 200)
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, stop)
