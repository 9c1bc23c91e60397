import t from 'tap'
import { connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import { hubOf, internal, startApp, until } from './helpers/app.js'
import fastifyWamp, { cborSerializer, jsonSerializer, msgpackSerializer, WampResult } from '../index.js'
import { connectRaw, MSG, openRaw } from './helpers/raw-client.js'
import type { UpgradeRefusedError } from './helpers/raw-client.js'
import { connectRawSocket, openSocket, prefix, RawSocketClient } from './helpers/rawsocket-client.js'
import type { Target } from './helpers/rawsocket-client.js'
import * as lp from './helpers/longpoll-client.js'
import type { LongPollTransport } from '../lib/transports/longpoll-transport.js'

// Transport parity: every guard the WebSocket transport has must hold on RawSocket and HTTP long-poll too, since an
// attacker picks the weakest door. Real sockets, no mocks.

const MiB = 1024 * 1024
const RAW = { port: 0, host: '127.0.0.1' }
const HELLO = [MSG.HELLO, 'realm1', { roles: lp.HELLO_ROLES }]
const VIOLATION = 'wamp.error.protocol_violation'

function rawTarget (app: FastifyInstance): Target {
  return { port: (app.wamp.rawsocketAddress() as AddressInfo).port }
}

/** Writes with the socket's back-pressure; resolves early if the connection ends. */
async function write (socket: Socket, chunk: Buffer): Promise<void> {
  if (socket.write(chunk) || socket.destroyed) return
  await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve))
}

function lpBase (app: FastifyInstance): string {
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/lp`
}

async function lpJoin (base: string, protocol = 'wamp.2.json'): Promise<lp.LongPoll> {
  const session = await lp.open(base, [protocol])
  await lp.send(session, HELLO)
  return session
}

// ws cuts a peer with more than 60 auto-pongs waiting for the kernel (maxPendingAutoPongs), so a PING's payload,
// which a PONG may keep as a view of the whole read it came in, pins at most 60 reads. RawSocket must bound PONGs the
// same way: a 1-octet PING padded to a 64 KiB read counts 5 octets against maxBufferedBytes while pinning 64 KiB.
t.test('RawSocket: a peer that sends tiny PINGs in large reads and reads no PONG is cut before it pins its uploads', async (t) => {
  const { app } = await startApp(t, { rawsocket: RAW, maxBufferedBytes: MiB })
  const { client } = await connectRawSocket(rawTarget(app))
  client.socket.pause()
  const server = [...(hubOf(app).rawsocket?.connections ?? [])][0].socket
  // First fill the loopback buffers with PONGs nobody reads, a PING per read, until the server holds 64 KiB itself.
  const fill = Buffer.concat([prefix(1, 16 * 1024), Buffer.alloc(16 * 1024)])
  while (!client.ended && server.writableLength < 64 * 1024) {
    await write(client.socket, fill)
    while (!client.ended && server.bytesRead < client.socket.bytesWritten) await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve)) // the server's writes of this loop iteration leave
  }
  t.notOk(client.ended, 'not cut while the kernel took the PONGs')
  // Then a 1-octet PING per 64 KiB read (the rest a PONG from the client, which the server ignores).
  const unit = Buffer.concat([prefix(1, 1), Buffer.from('?'), prefix(2, 65531), Buffer.alloc(65531)])
  let units = 0
  for (; units < 300 && !client.ended; units++) await write(client.socket, unit)
  await until(() => client.ended, 2000).catch(() => {})
  t.ok(client.ended, `cut after ${units} PINGs of 64 KiB reads (${(units * unit.length / MiB).toFixed(0)} MiB) with PONGs unread`)
  await until(() => app.wamp.connections === 0)
})

// A WebSocket's bufferedAmount counts what the kernel has not taken yet, so a peer that does not read is cut at
// maxBufferedBytes. Over long-poll the same bytes sit in HTTP responses: a client that polls on connections it never
// reads must be bounded the same way, and what it made the server hold must go when its transport goes.
const BIG = 7 * MiB

/** An app whose procedure `big` answers BIG octets, the server's sockets as they connect, and a long-poll session on it. */
async function bigAnswers (t: Parameters<typeof startApp>[0], limits: { maxBufferedBytes: number, closeTimeout: number }) {
  const { app, port } = await startApp(t, { longPoll: true, maxPayload: 8 * MiB, ...limits }, (app: FastifyInstance) => {
    app.wamp.register('big', () => 'x'.repeat(BIG))
  })
  const serverSockets: Socket[] = []
  app.server.on('connection', (socket: Socket) => serverSockets.push(socket))
  const session = await lpJoin(lpBase(app))
  const welcome = (await lp.receiveMessages(session, 1))[0]
  const transport = internal([...app.wamp.sessions.values()][0]).transport as unknown as LongPollTransport
  return { app, port, serverSockets, session, welcome, transport }
}

/** A receive on a connection whose answer is never read. */
function unreadReceive (port: number, session: lp.LongPoll): Socket {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.write(`POST /lp/${session.transport}/receive HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n`)
  socket.pause()
  return socket
}

t.test('long-poll: receive answers the client does not read count against maxBufferedBytes; the cut frees them', async (t) => {
  const { app, port, serverSockets, session, welcome, transport } = await bigAnswers(t, { maxBufferedBytes: 8 * MiB, closeTimeout: 10_000 })
  t.equal(welcome[0], MSG.WELCOME)
  const stuck: Socket[] = []
  let rounds = 0
  for (; rounds < 6 && app.wamp.connections > 0; rounds++) {
    stuck.push(unreadReceive(port, session))
    await until(() => transport.polling || app.wamp.connections === 0, 2000, 'the receive to be held')
    if (app.wamp.connections === 0) break
    const status = await lp.send(session, [MSG.CALL, rounds + 1, {}, 'big'])
    if (status === 404) break
    await until(() => !transport.polling || app.wamp.connections === 0, 5000, 'the receive to be answered')
  }
  await until(() => app.wamp.connections === 0, 2000).catch(() => {})
  t.equal(app.wamp.connections, 0, `the session is cut (after ${rounds} answers of ${BIG / MiB} MiB left unread)`)
  // What the server was still writing to those connections went with the transport.
  const ours = new Set(stuck.map((s) => s.localPort))
  const holding = (): number => serverSockets.filter((s) => ours.has(s.remotePort) && !s.destroyed && s.writableLength > 0).length
  await until(() => holding() === 0, 2000).catch(() => {})
  t.equal(holding(), 0, 'no server connection still holds an unread answer')
  t.equal(await lp.send(session, [MSG.CALL, 99, {}, 'big']), 404, 'the transport is gone')
  for (const socket of stuck) socket.destroy()
})

// The transport ending by the client's /close (or by expiry) must not leave such answers behind either: they get
// closeTimeout to be read, as a close handshake does, then their connections are cut.
t.test('long-poll: an answer the client never reads is cut closeTimeout after the client\'s /close', async (t) => {
  const { app, port, serverSockets, session, transport } = await bigAnswers(t, { maxBufferedBytes: 16 * MiB, closeTimeout: 100 })
  const socket = unreadReceive(port, session)
  await until(() => transport.polling, 2000, 'the receive to be held')
  t.equal(await lp.send(session, [MSG.CALL, 1, {}, 'big']), 204)
  await until(() => !transport.polling, 5000, 'the receive to be answered')
  const server = (): Socket | undefined => serverSockets.find((s) => s.remotePort === socket.localPort)
  t.ok((server()?.writableLength ?? 0) > 0, 'the server is still writing the answer')
  t.equal(app.wamp.connections, 1, 'within maxBufferedBytes: the session lives')
  t.equal(await lp.close(session), 204)
  await until(() => server()?.destroyed === true, 2000).catch(() => {})
  t.ok(server()?.destroyed, 'the connection of the unread answer is cut after closeTimeout')
  socket.destroy()
})

// A RESULT the client does read must not be mistaken for one it does not: large answers to a polling client flow.
t.test('long-poll: a client that reads its answers gets every large one', async (t) => {
  const size = 3 * MiB
  const { app } = await startApp(t, { longPoll: true, maxPayload: 4 * MiB, maxBufferedBytes: 4 * MiB }, (app: FastifyInstance) => {
    app.wamp.register('big', (args) => 'x'.repeat(size - (args[0] as number)))
  })
  const session = await lpJoin(lpBase(app))
  await lp.receiveMessages(session, 1)
  for (let i = 1; i <= 5; i++) {
    t.equal(await lp.send(session, [MSG.CALL, i, {}, 'big', [i]]), 204)
    const [result] = await lp.receiveMessages(session, 1)
    t.same([result[0], result[1], (result[3] as string[])[0].length], [MSG.RESULT, i, size - i])
  }
  await lp.close(session)
})

// ---- what holds: pinned so that it keeps holding --------------------------------------------------------------

const SERIALIZERS = { json: jsonSerializer, msgpack: msgpackSerializer, cbor: cborSerializer } as const
type SerializerName = keyof typeof SERIALIZERS
const enc = (name: SerializerName, msg: unknown): Buffer => Buffer.from(SERIALIZERS[name].encode(msg as unknown[]))

/** Bytes no decoder of that serializer reads: a truncated text, msgpack's never-used 0xC1, a CBOR break alone. */
const GARBAGE: Record<SerializerName, Buffer> = { json: Buffer.from('[1, {"'), msgpack: Buffer.from([0xc1]), cbor: Buffer.from([0xff]) }

/** Malformed inputs (before HELLO, or after WELCOME): each must end the session with ABORT protocol_violation. */
const MALFORMED: Array<[string, boolean, (name: SerializerName) => Buffer]> = [
  ['undecodable bytes', false, (name) => GARBAGE[name]],
  ['an empty message', false, () => Buffer.alloc(0)],
  ['a dict instead of a list', false, (name) => enc(name, { 0: 1 })],
  ['another serializer\'s bytes', false, (name) => name === 'json' ? enc('msgpack', HELLO) : Buffer.from(JSON.stringify(HELLO))],
  ['a CALL before HELLO', false, (name) => enc(name, [MSG.CALL, 1, {}, 'echo', []])],
  ['a second HELLO', true, (name) => enc(name, HELLO)],
  ['a WELCOME from the client', true, (name) => enc(name, [MSG.WELCOME, 1, {}])],
  ['a request id of 0', true, (name) => enc(name, [MSG.CALL, 0, {}, 'echo', []])]
]

t.test('RawSocket, each serializer: malformed and out-of-order messages → ABORT protocol_violation, nothing else, then the end', async (t) => {
  const { app } = await startApp(t, { rawsocket: RAW }, (app: FastifyInstance) => { app.wamp.register('echo', (args) => args[0]) })
  for (const name of ['json', 'msgpack', 'cbor'] as const) {
    for (const [what, welcomed, bytes] of MALFORMED) {
      const client = new RawSocketClient(await openSocket(rawTarget(app)), name)
      await client.handshake()
      if (welcomed) {
        client.send(HELLO)
        t.equal((await client.next())[0], MSG.WELCOME)
      }
      client.sendFrame(0, bytes(name))
      t.match(await client.next(), [MSG.ABORT, { message: /./ }, VIOLATION], `${name}: ${what}`)
      await client.expectEnd()
    }
  }
  await until(() => app.wamp.connections === 0)
})

/** A long-poll session on `protocol` speaking raw bodies, decoding what receives answer with our serializers. */
async function lpRaw (base: string, name: SerializerName) {
  const session = await lp.open(base, [`wamp.2.${name}`])
  const url = `${base}/${session.transport}`
  return {
    session,
    send: async (body: Buffer) => (await lp.post(url + '/send', body)).status,
    receive: async (): Promise<{ status: number, msg: unknown[] | undefined }> => {
      const answer = await lp.post(url + '/receive')
      return { status: answer.status, msg: answer.status === 200 ? SERIALIZERS[name].decode(answer.body) as unknown[] : undefined }
    }
  }
}

t.test('long-poll, each serializer: malformed and out-of-order messages → ABORT protocol_violation, nothing else, then the end', async (t) => {
  // closeTimeout is how long the ABORT waits to be taken once the session ended: the receive is asked for before the
  // send, and the bound leaves room for a loaded machine (20 ms lost the ABORT under the full test run).
  const { app } = await startApp(t, { longPoll: true, closeTimeout: 150 }, (app: FastifyInstance) => { app.wamp.register('echo', (args) => args[0]) })
  const base = lpBase(app)
  for (const name of ['json', 'msgpack', 'cbor'] as const) {
    for (const [what, welcomed, bytes] of MALFORMED) {
      const c = await lpRaw(base, name)
      if (welcomed) {
        t.equal(await c.send(enc(name, HELLO)), 204)
        t.equal((await c.receive()).msg?.[0], MSG.WELCOME)
      }
      const abort = c.receive()
      t.equal(await c.send(bytes(name)), 204, `${name}: ${what}: the send is taken`)
      t.match((await abort).msg, [MSG.ABORT, { message: /./ }, VIOLATION], `${name}: ${what}`)
      // The transport ends by itself after closeTimeout (no /close from the client): its id is gone.
      await until(() => app.wamp.connections === 0, 2000, 'the transport to end')
      t.equal((await c.receive()).status, 404)
    }
  }
})

t.test('maxSessions counts every transport: at the limit a WebSocket upgrade gets 503, a RawSocket handshake error 4, a long-poll open 503', async (t) => {
  const { app, url } = await startApp(t, { rawsocket: RAW, longPoll: true, maxSessions: 2 })
  const base = lpBase(app)
  const { client: rawsocket } = await connectRawSocket(rawTarget(app))
  const longpoll = await lpJoin(base)
  t.equal(app.wamp.connections, 2)
  const refused = await openRaw(url).then(() => undefined, (err: UpgradeRefusedError) => err)
  t.equal(refused?.statusCode, 503, 'WebSocket')
  const late = new RawSocketClient(await openSocket(rawTarget(app)))
  t.same([...await late.handshake()], [0x7f, 0x40, 0, 0], 'RawSocket: error 4')
  await late.expectEnd()
  t.equal((await lp.post(base + '/open', JSON.stringify({ protocols: ['wamp.2.json'] }))).status, 503, 'long-poll')
  // A slot freed by either frees it for all.
  rawsocket.close()
  await until(() => app.wamp.connections === 1)
  const { client } = await connectRaw(url)
  await client.close()
  await lp.close(longpoll)
  await until(() => app.wamp.connections === 0)
})

t.test('long-poll ids: unknown after /close, after expiry, after helloTimeout; a WAMP session id is no transport id; a newer receive replaces a held one', async (t) => {
  const { app } = await startApp(t, { longPoll: { pollTimeout: 5000, idleTimeout: 300 }, helloTimeout: 150 })
  const base = lpBase(app)
  const closed = await lpJoin(base)
  const [welcome] = await lp.receiveMessages(closed, 1)
  t.equal((await lp.post(`${base}/${String(welcome[1])}/receive`)).status, 404, 'the WAMP session id opens nothing')
  // Two receives at once: the first is answered empty (204) when the second arrives, the second gets the message.
  const first = lp.post(`${base}/${closed.transport}/receive`)
  await until(() => internal([...app.wamp.sessions.values()][0]).transport.buffered === 0 && (internal([...app.wamp.sessions.values()][0]).transport as unknown as LongPollTransport).polling)
  const second = lp.receive(closed)
  t.equal((await first).status, 204, 'the replaced receive is answered empty')
  t.equal(await lp.send(closed, [MSG.SUBSCRIBE, 1, {}, 'topic']), 204)
  t.equal((await second).messages[0]?.[0], MSG.SUBSCRIBED, 'the newer one gets the answer')
  t.equal(await lp.close(closed), 204)
  for (const path of ['send', 'receive', 'close']) t.equal((await lp.post(`${base}/${closed.transport}/${path}`, '[]')).status, 404, `${path} after /close`)
  // No receive for idleTimeout: gone.
  const idle = await lpJoin(base)
  await until(() => app.wamp.connections === 0, 2000, 'the idle transport to expire')
  t.equal(await lp.send(idle, [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out']), 404, 'send after expiry')
  // No HELLO within helloTimeout, a receive held: ABORT, then the id is gone.
  const silent = await lp.open(base)
  const { status, messages } = await lp.receive(silent)
  t.same([status, messages], [200, [[MSG.ABORT, { message: 'no HELLO received within 150 ms' }, VIOLATION]]])
  t.equal((await lp.receive(silent)).status, 404, 'receive after helloTimeout')
})

// docs/longpoll.md: the endpoints are ordinary routes, so the app's hooks run for every one of them, whenever they
// were added (docs/transports.md: RawSocket has no HTTP, so no hook runs there, by design).
t.test('long-poll: onRequest and preValidation hooks added after the plugin gate open, send, receive and close', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { longPoll: true, shutdownGrace: 200 })
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== 'Bearer ok') await reply.code(401).send({ error: 'no' })
  })
  app.addHook('preValidation', async (request, reply) => {
    if (request.headers['x-csrf'] !== 'ok') await reply.code(403).send({ error: 'no' })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const base = lpBase(app)
  const good = { authorization: 'Bearer ok', 'x-csrf': 'ok' }
  const body = JSON.stringify({ protocols: ['wamp.2.json'] })
  t.equal((await lp.post(base + '/open', body)).status, 401)
  t.equal((await lp.post(base + '/open', body, { authorization: 'Bearer ok' })).status, 403)
  const session = await lp.open(base, ['wamp.2.json'], good)
  for (const path of ['send', 'receive', 'close']) {
    t.equal((await lp.post(`${base}/${session.transport}/${path}`, JSON.stringify(HELLO))).status, 401, `${path} without the token`)
    t.equal((await lp.post(`${base}/${session.transport}/${path}`, JSON.stringify(HELLO), { authorization: 'Bearer ok' })).status, 403, `${path} without preValidation's header`)
  }
  t.equal(app.wamp.connections, 1, 'nothing reached the session')
  t.equal((await lp.post(`${base}/${session.transport}/close`, undefined, good)).status, 204)
  await until(() => app.wamp.connections === 0)
})

// A batch of empty (or one-octet) messages is the batched transports' fragment flood: its first message is refused,
// so it must cost what that refusal costs, not a view per message made before it (a 4 MiB JSON batch of separators
// was 4 million views: seconds of event loop and hundreds of MiB for one request).
t.test('long-poll batched: a batch of millions of empty messages costs what any refused message of its size costs', async (t) => {
  const maxPayload = 4 * MiB
  const { app } = await startApp(t, { longPoll: true, maxPayload, closeTimeout: 150 })
  const base = lpBase(app)
  for (const [protocol, flood, single] of [
    ['wamp.2.json.batched', Buffer.alloc(maxPayload, 0x1e), Buffer.concat([Buffer.alloc(maxPayload - 1, 0x20), Buffer.from([0x1e])])],
    ['wamp.2.msgpack.batched', Buffer.alloc(maxPayload, 0), Buffer.concat([Buffer.from([0, 0x3f, 0xff, 0xfc]), Buffer.alloc(maxPayload - 4, 0xc1)])]
  ] as const) {
    // What it costs is measured, not asserted here (no timed tests): test/internals/batch.test.ts pins that the first
    // refused message is the only one looked at. This pins the answer.
    for (const body of [single, flood]) {
      const session = await lp.open(base, [protocol])
      const abort = lp.receive(session)
      t.equal((await lp.post(`${base}/${session.transport}/send`, body)).status, 204)
      t.match((await abort).messages, [[MSG.ABORT, {}, VIOLATION]], `${protocol}: ABORT`)
      await until(() => app.wamp.connections === 0)
    }
  }
})

// The WebSocket reader stops at an async authorization (test/attack-wire.test.ts); RawSocket must too: the socket
// paused, at most a read's frames held, then every message handled in order.
t.test('RawSocket: while an async authorization decides, the server stops reading; then every CALL is answered in order', async (t) => {
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  let first = true
  const maxPayload = 64 * 1024
  const { app } = await startApp(t, {
    rawsocket: RAW,
    maxPayload,
    maxBufferedBytes: 64 * MiB,
    authorize: async () => {
      if (first) { first = false; await gate }
      return true
    }
  }, (app: FastifyInstance) => { app.wamp.register('echo', (args) => new WampResult(args)) })
  const { client } = await connectRawSocket(rawTarget(app))
  const session = internal([...app.wamp.sessions.values()][0])
  const socket = (session.transport as unknown as { socket: Socket }).socket
  const arg = 'x'.repeat(maxPayload - 100)
  const calls = Buffer.concat(Array.from({ length: 256 }, (_, i) => {
    const call = Buffer.from(JSON.stringify([MSG.CALL, i + 1, {}, 'echo', [arg]]))
    return [prefix(0, call.length), call]
  }).flat())
  client.socket.write(calls)
  await until(() => session.held !== undefined, 5000, 'the session to be held')
  t.ok(socket.isPaused(), 'the socket is paused')
  const atHold = socket.bytesRead
  for (let i = 0; i < 200; i++) await new Promise((resolve) => setImmediate(resolve))
  const more = socket.bytesRead - atHold
  t.ok(more <= 256 * 1024, `the server read ${more} octets more while held (${socket.bytesRead} of ${calls.length})`)
  const held = (session.held?.length ?? 0) / 2
  t.ok(held <= 4, `${held} messages held`)
  open()
  const ids: unknown[] = []
  while (ids.length < 256) {
    const msg = await client.next()
    t.equal(msg[0], MSG.RESULT)
    ids.push(msg[1])
  }
  t.same(ids, Array.from({ length: 256 }, (_, i) => i + 1), 'in order')
  client.close()
})

// A WebSocket frame announced at its maximum length costs nothing until it arrives (lib/wire/frame-reader.ts); a
// RawSocket length prefix must not reserve its length either, and a trickle is gathered without a buffer per read.
t.test('RawSocket: a frame announced at 16 MiB and trickled an octet per read reserves nothing up front', async (t) => {
  const { app } = await startApp(t, { rawsocket: { ...RAW, maxMessageLength: 16 * MiB }, maxPayload: 16 * MiB, maxBufferedBytes: 16 * MiB })
  const { client } = await connectRawSocket(rawTarget(app))
  const transport = internal([...app.wamp.sessions.values()][0]).transport as unknown as { socket: Socket, decoder: { buffered: number, room?: Buffer } }
  client.socket.write(prefix(0, 16 * MiB - 1))
  for (let i = 0; i < 64; i++) {
    const read = transport.socket.bytesRead
    client.socket.write(Buffer.from('['))
    while (transport.socket.bytesRead === read) await new Promise((resolve) => setImmediate(resolve))
  }
  t.equal(transport.decoder.buffered, 64, 'the 64 octets received are held')
  t.ok((transport.decoder.room?.length ?? 0) <= 4096, `in at most 4 KiB (${transport.decoder.room?.length ?? 0})`)
  t.equal(app.wamp.connections, 1, 'the connection is still open')
  client.close()
  await until(() => app.wamp.connections === 0)
})

t.test('RawSocket: a subscriber that does not read is cut at maxBufferedBytes; a reading one gets every EVENT', async (t) => {
  const { app } = await startApp(t, { rawsocket: RAW, maxPayload: 64 * 1024, maxBufferedBytes: 256 * 1024 })
  const clients = await Promise.all(['slow', 'fast'].map(async () => (await connectRawSocket(rawTarget(app))).client))
  for (const client of clients) {
    client.send([MSG.SUBSCRIBE, 1, {}, 'news'])
    t.equal((await client.next())[0], MSG.SUBSCRIBED)
  }
  const [slow, fast] = clients
  slow.socket.pause()
  const payload = 'y'.repeat(32 * 1024)
  let published = 0
  // The server's end of the slow connection reaches a client that reads nothing only once it reads: ask the server.
  while (app.wamp.connections === 2 && published < 2000) {
    app.wamp.publishToAll('news', [published++, payload])
    // The fast one reads each EVENT before the next is published.
    const event = await fast.next()
    t.equal(event[0], MSG.EVENT)
  }
  t.equal(app.wamp.connections, 1, `the subscriber that does not read is cut (after ${published} EVENTs of 32 KiB)`)
  slow.close()
  t.ok(published > 8, 'after the kernel buffers filled, not at once')
  fast.close()
  await until(() => app.wamp.connections === 0)
})

// A /send for a transport that does not exist is answered 404 before its body is read: nobody may make the server
// read maxPayload octets, as slowly as they like, for nothing. A known transport's body is still read and handled.
t.test('long-poll: a /send to an unknown transport is refused before its body arrives', async (t) => {
  const { app } = await startApp(t, { longPoll: true })
  const port = (app.server.address() as AddressInfo).port
  const socket = connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  socket.write('POST /lp/no-such-transport/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 500000\r\n\r\n[1,')
  await until(() => answer.includes('\r\n\r\n'), 2000, 'an answer before the body is complete')
  t.match(answer, /^HTTP\/1\.1 404/)
  const known = await lpJoin(lpBase(app))
  t.equal((await lp.receiveMessages(known, 1))[0]?.[0], MSG.WELCOME, 'a known transport\'s /send is read and handled')
})

// Anyone can make refusals at maxSessions as fast as they can connect: they are one warning, then at most one every
// 10 s saying how many, not a log line each.
t.test('refusals at maxSessions are logged once, with a count, not once each', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const logger = { level: 'warn', stream: { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } } }
  const { app, url } = await startApp(t, { maxSessions: 1, longPoll: true }, undefined, { logger })
  const { client } = await connectRaw(url)
  for (let i = 0; i < 10; i++) {
    const refused = await openRaw(url).then(() => undefined, (err: UpgradeRefusedError) => err)
    t.equal(refused?.statusCode, 503)
    await t.rejects(lp.open(lpBase(app), ['wamp.2.json']))
  }
  const warnings = lines.filter((l) => /maxSessions reached/.test(String(l.msg)))
  t.equal(warnings.length, 1, '20 refusals, one warning')
  t.equal(warnings[0]?.refused, 1, 'the first counts itself')
  await client.close()
})
