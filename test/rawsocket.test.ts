import t from 'tap'
import type { Test } from 'tap'
import fc from 'fast-check'
import Fastify from 'fastify'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fastifyWamp from '../index.js'
import type { FastifyWampOptions } from '../index.js'
import { startApp, until, hubOf } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'
import { pythonHas, runPythonHelper } from './helpers/python.js'
import { MSG, openRaw } from './helpers/raw-client.js'
import type { UpgradeRefusedError } from './helpers/raw-client.js'
import { connectRawSocket, openSocket, prefix, RawSocketClient } from './helpers/rawsocket-client.js'
import type { RawSocketSerializer, Target } from './helpers/rawsocket-client.js'
import { FrameDecoder, writePrefix } from '../lib/wire/rawsocket-framing.js'

// Issue 23: WAMP-over-RawSocket (rfc/text/advanced/transport_rawsocket.md) — raw frames over TCP, TLS and a Unix
// socket, and autobahn-python's RawSocket client, in router mode with a WebSocket callee.

const VIOLATION = 'wamp.error.protocol_violation'
const RAW = { rawsocket: { port: 0, host: '127.0.0.1' } }

async function startRaw (t: Test, options: FastifyWampOptions = RAW, setup?: Parameters<typeof startApp>[2]): Promise<{ app: Awaited<ReturnType<typeof startApp>>['app'], url: string, target: Target }> {
  const { app, url } = await startApp(t, { ...RAW, ...options }, setup)
  const address = app.wamp.rawsocketAddress()
  const target = typeof address === 'string' ? { path: address } : { port: (address as AddressInfo).port }
  return { app, url, target }
}

async function raw (target: Target, serializer: RawSocketSerializer = 'json'): Promise<RawSocketClient> {
  return new RawSocketClient(await openSocket(target), serializer)
}

async function expectViolation (t: Test, client: RawSocketClient, pattern: RegExp): Promise<void> {
  const abort = await client.nextOfType(MSG.ABORT)
  t.equal(abort[2], VIOLATION)
  t.match((abort[1] as { message: string }).message, pattern)
  await client.expectEnd()
}

for (const name of ['json', 'msgpack', 'cbor'] as const) {
  t.test(`issue 23: RawSocket ${name}: handshake, HELLO → WELCOME, a CALL, stats and the session's transport`, async (t) => {
    const { app, target } = await startRaw(t, RAW, (app) => {
      app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number))
      app.wamp.register('whoami', (_a, _k, { session }) => [session.transport.kind, session.request === undefined, session.protocol])
    })
    const client = await raw(target, name)
    const reply = await client.handshake()
    const id = { json: 1, msgpack: 2, cbor: 3 }[name]
    t.same([...reply], [0x7f, (11 << 4) | id, 0, 0], 'serializer echoed; max length 2^20 (maxPayload 1 MiB)')
    client.send([MSG.HELLO, 'realm1', { roles: { caller: {} } }])
    const welcome = await client.next()
    t.equal(welcome[0], MSG.WELCOME)
    client.send([MSG.CALL, 1, {}, 'add', [2, 3]])
    t.same(await client.next(), [MSG.RESULT, 1, {}, [5]])
    client.send([MSG.CALL, 2, {}, 'whoami'])
    t.same(await client.next(), [MSG.RESULT, 2, {}, [['rawsocket', true, `wamp.2.${name}`]]])
    t.match(app.wamp.stats(), { connections: 1, sessions: 1, sessionsByTransport: { rawsocket: 1 } })
    const session = [...app.wamp.sessions.values()][0]
    t.equal(session.transport.kind, 'rawsocket')
    t.equal(session.transport.remoteAddress, '127.0.0.1')
    client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm'])
    t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
    client.close()
    await until(() => app.wamp.connections === 0)
  })
}

t.test('issue 23: RawSocket handshake errors: serializer, reserved bits, not RawSocket, maxSessions; hostile handshakes are harmless', async (t) => {
  const { app, target, url } = await startRaw(t, { ...RAW, maxSessions: 1 })
  const reply = async (octets: number[]): Promise<number[] | undefined> => {
    const c = await raw(target)
    c.socket.write(Buffer.from(octets))
    await c.expectEnd()
    return c.reply === undefined ? undefined : [...c.reply]
  }
  t.same(await reply([0x7f, 0xf0, 0, 0]), [0x7f, 0x10, 0, 0], 'serializer 0 (illegal): error 1')
  t.same(await reply([0x7f, 0xf5, 0, 0]), [0x7f, 0x10, 0, 0], 'serializer 5 (FlatBuffers): error 1')
  t.same(await reply([0x7f, 0xf1, 0, 1]), [0x7f, 0x30, 0, 0], 'reserved octets not zero: error 3')
  t.same(await reply([0x47, 0x45, 0x54, 0x20]), undefined, '"GET ": not RawSocket, the connection fails without a reply')

  // Split across TCP chunks: the handshake octets one by one.
  const c = await raw(target)
  for (const b of [0x7f, 0xf1, 0, 0]) {
    c.socket.write(Buffer.from([b]))
    await new Promise((resolve) => setImmediate(resolve))
  }
  await until(() => c.reply !== undefined)
  c.send([MSG.HELLO, 'realm1', { roles: { caller: {} } }])
  t.equal((await c.next())[0], MSG.WELCOME, 'a handshake split in four chunks works')

  // One session is the limit, shared with WebSocket: the next RawSocket handshake gets error 4, an upgrade 503.
  t.same(await reply([0x7f, 0xf1, 0, 0]), [0x7f, 0x40, 0, 0], 'maxSessions reached: error 4')
  const refused = await openRaw(url).then(() => undefined, (err: UpgradeRefusedError) => err)
  t.equal(refused?.statusCode, 503, 'the WebSocket upgrade is refused too')
  c.close()
  await until(() => app.wamp.connections === 0)
  t.equal(hubOf(app).rawsocket?.connections.size, 0, 'no connection left')
})

t.test('RawSocket connections still in their handshake are bounded: at most 2 × maxSessions TCP connections', async (t) => {
  const { target, url } = await startRaw(t, { ...RAW, maxSessions: 2, helloTimeout: 20_000 })
  // Four idle connections (no handshake octet): the cap.
  const idle = await Promise.all(Array.from({ length: 4 }, async () => await raw(target)))
  t.teardown(() => { for (const c of idle) c.close() })
  const fifth = await raw(target)
  t.teardown(() => fifth.close())
  // Proven by order, not by time: the server took the fifth connection before this HTTP request (one process, one
  // accept queue each), and an HTTP round trip takes longer than a FIN on loopback.
  await fetch(url.replace('ws://', 'http://'))
  t.equal(fifth.ended, true, 'a fifth connection is closed at once, not at the handshake timeout')
  t.equal(fifth.reply, undefined, 'without a reply')
  t.same(idle.map((c) => c.ended), [false, false, false, false], 'the four before it are still open')
  idle[0].close()
  // Once one of them is gone, a connection handshakes again (the slot is free; Node counts the close a tick later).
  let reply: Buffer | undefined
  for (let attempt = 0; attempt < 50 && reply === undefined; attempt++) {
    const c = await raw(target)
    reply = await c.handshake().catch(() => undefined)
    c.close()
    if (reply === undefined) await new Promise((resolve) => setTimeout(resolve, 20))
  }
  t.same(reply === undefined ? undefined : [...reply].slice(0, 1), [0x7f], 'a new connection completes its handshake once a slot is free')
})

t.test('issue 23: RawSocket handshake not completed within helloTimeout: the connection is cut', async (t) => {
  const { app, target } = await startRaw(t, { ...RAW, helloTimeout: 50 })
  const c = await raw(target)
  c.socket.write(Buffer.from([0x7f, 0xf1]))
  await c.expectEnd()
  t.equal(c.reply, undefined)
  const d = await raw(target)
  await d.handshake()
  await d.expectEnd()
  t.equal(app.wamp.connections, 0, 'no HELLO within helloTimeout either')
})

t.test('issue 23: RawSocket frames: oversize, reserved type, reserved bits → ABORT protocol_violation, then the end', async (t) => {
  const { target } = await startRaw(t, { rawsocket: { port: 0, host: '127.0.0.1', maxMessageLength: 512 } })
  const open = async (): Promise<RawSocketClient> => {
    const c = await raw(target)
    t.same([...await c.handshake()], [0x7f, 0x01, 0, 0], 'max length 2^9 announced')
    c.send([MSG.HELLO, 'realm1', { roles: { caller: {} } }])
    await c.next()
    return c
  }
  const big = await open()
  big.socket.write(prefix(0, 513))
  await expectViolation(t, big, /513 octets exceeds the maximum length of 512/)
  const typed = await open()
  typed.sendFrame(3, Buffer.from('[]'))
  await expectViolation(t, typed, /frame type 3 is reserved/)
  const reserved = await open()
  reserved.socket.write(Buffer.from([0x10, 0, 0, 2, 0x5b, 0x5d]))
  await expectViolation(t, reserved, /reserved bits/)
  const undecodable = await open()
  undecodable.sendFrame(0, Buffer.from('{not json'))
  await expectViolation(t, undecodable, /could not be decoded/)
})

t.test('issue 23: RawSocket: PING answered with PONG echoing its payload; frames split across and packed into TCP chunks', async (t) => {
  const { target } = await startRaw(t, RAW, (app) => { app.wamp.register('echo', (args) => args[0]) })
  const { client } = await connectRawSocket(target)
  client.sendFrame(1, Buffer.from('hello?'))
  const pong = await client.nextFrame()
  t.same([pong.type, pong.payload.toString()], [2, 'hello?'])
  client.sendFrame(1, Buffer.alloc(0))
  t.same((await client.nextFrame()).type, 2, 'an empty PING too')

  const text = 'ü'.repeat(3000)
  const call = Buffer.from(JSON.stringify([MSG.CALL, 1, {}, 'echo', [text]]))
  const frame = Buffer.concat([prefix(0, call.length), call])
  for (let at = 0; at < frame.length; at += 7) {
    client.socket.write(frame.subarray(at, at + 7))
    if (at % 700 === 0) await new Promise((resolve) => setImmediate(resolve))
  }
  t.same(await client.next(), [MSG.RESULT, 1, {}, [text]], 'a frame in 7-octet pieces')
  const calls = [2, 3, 4].map((i) => Buffer.from(JSON.stringify([MSG.CALL, i, {}, 'echo', [i]])))
  client.socket.write(Buffer.concat(calls.flatMap((c) => [prefix(0, c.length), c])))
  for (const i of [2, 3, 4]) t.same(await client.next(), [MSG.RESULT, i, {}, [i]], 'three frames in one chunk')
  client.close()
})

t.test('issue 23: RawSocket: a peer that PINGs without reading its PONGs is cut at maxBufferedBytes', async (t) => {
  const { app, target } = await startRaw(t, { rawsocket: { port: 0, host: '127.0.0.1', maxMessageLength: 4096 }, maxPayload: 1000, maxBufferedBytes: 1000 })
  const { client } = await connectRawSocket(target)
  client.sendFrame(1, Buffer.alloc(2000))
  await client.expectEnd()
  await until(() => app.wamp.connections === 0)
  t.pass('cut')
})

t.test('issue 23: RawSocket sessions have no HTTP request: fromRequest is not consulted, the WAMP authmethods decide', async (t) => {
  let asked = 0
  const { target } = await startRaw(t, { ...RAW, auth: { fromRequest: () => { asked++; return { authid: 'http-user', authrole: 'user' } } } })
  const { welcome, client } = await connectRawSocket(target)
  t.equal(welcome[0], MSG.ABORT)
  t.equal(welcome[2], 'wamp.error.no_auth_method', 'a realm that only has fromRequest refuses RawSocket clients')
  t.equal(asked, 0)
  await client.expectEnd()
})

t.test('issue 23: RawSocket: a result larger than the client\'s announced length is not sent (payload_size_exceeded)', async (t) => {
  const { target } = await startRaw(t, RAW, (app) => { app.wamp.register('big', () => 'x'.repeat(600)) })
  const c = await raw(target)
  await c.handshake([0x7f, 0x01, 0, 0])
  c.send([MSG.HELLO, 'realm1', { roles: { caller: {} } }])
  t.equal((await c.next())[0], MSG.WELCOME)
  c.send([MSG.CALL, 1, {}, 'big'])
  const error = await c.next()
  t.same([error[0], error[2], error[4]], [MSG.ERROR, 1, 'wamp.error.payload_size_exceeded'])
  c.close()
})

t.test('issue 23: RawSocket keepalive with ping: true — a peer that answers no PING is cut; one that answers stays', async (t) => {
  const { app, target } = await startRaw(t, { rawsocket: { port: 0, host: '127.0.0.1', ping: true }, pingInterval: 100 })
  const { client: silent } = await connectRawSocket(target)
  const { client: polite } = await connectRawSocket(target)
  let pings = 0
  polite.socket.on('data', () => {})
  const answer = async (): Promise<void> => {
    for (;;) {
      const frame = await polite.nextFrame().catch(() => undefined)
      if (frame === undefined) return
      if (frame.type === 1) { pings++; polite.sendFrame(2, frame.payload) }
    }
  }
  answer().catch(() => {})
  await silent.expectEnd()
  await until(() => pings >= 2, 5000, 'two pings answered')
  t.pass('the polite peer was pinged and answered')
  t.equal(polite.ended, false, 'and is still connected')
  await until(() => app.wamp.connections === 1, 2000, 'the silent peer\'s session to clean up')
  polite.close()
})

t.test('issue 23: RawSocket sessions get GOODBYE system_shutdown when the app closes; the listener closes', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { ...RAW, shutdownGrace: 500 })
  await app.ready()
  const port = (app.wamp.rawsocketAddress() as AddressInfo).port
  const { client } = await connectRawSocket({ port })
  const pending = await raw({ port }) // connected, no handshake yet
  const closing = app.close()
  const goodbye = await client.next()
  t.same(goodbye, [MSG.GOODBYE, {}, 'wamp.close.system_shutdown'])
  client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await client.expectEnd()
  await pending.expectEnd()
  await closing
  t.equal(app.wamp.rawsocketAddress(), null, 'not listening any more')
  t.equal(app.wamp.connections, 0)
})

t.test('issue 23: RawSocket options are checked at register time', async (t) => {
  for (const rawsocket of [{}, { port: 1, path: '/tmp/x' }, { port: -1 }, { port: 1, maxMessageLength: 1000 }, { port: 1, maxMessageLength: 256 },
    { port: 1, bogus: true }, { path: '' }, { port: 1, ping: 'yes' }, { path: '/tmp/x', host: 'localhost' }, 'tcp:9000']) {
    const app = Fastify({ logger: false })
    const err = await app.register(fastifyWamp, { rawsocket } as unknown as FastifyWampOptions).ready().then(() => undefined, (e: { code?: string }) => e)
    t.equal(err?.code, 'FST_WAMP_INVALID_OPTION', JSON.stringify(rawsocket))
    await app.close().catch(() => {})
  }
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { rawsocket: { port: 0, host: '127.0.0.1' }, maxPayload: 1000 })
  await app.ready()
  const c = await raw({ port: (app.wamp.rawsocketAddress() as AddressInfo).port })
  t.same([...await c.handshake()], [0x7f, 0x01, 0, 0], 'maxPayload 1000 → 512 announced (the largest power of two not above it)')
  c.close()
  await app.close()
})

t.test('issue 23: RawSocket framing round trip (fast-check): any frames, any TCP chunking', async (t) => {
  const frames = fc.array(fc.record({ type: fc.integer({ min: 0, max: 2 }), payload: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 })
  fc.assert(fc.property(frames, fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }), (list, cuts) => {
    const stream = Buffer.concat(list.flatMap(({ type, payload }) => {
      const head = Buffer.alloc(4)
      writePrefix(head, 0, type, payload.length)
      return [head, Buffer.from(payload)]
    }))
    const decoder = new FrameDecoder(1024)
    const out: Array<{ type: number, payload: Uint8Array }> = []
    let at = 0
    for (let i = 0; at < stream.length; i++) {
      const size = cuts[i % cuts.length]
      decoder.push(stream.subarray(at, at + size))
      at += size
      while (decoder.next()) out.push({ type: decoder.type, payload: new Uint8Array(decoder.payload) })
    }
    return decoder.error === undefined && decoder.buffered === 0 && JSON.stringify(out) === JSON.stringify(list.map((f) => ({ type: f.type, payload: new Uint8Array(f.payload) })))
  }))
  const head = Buffer.alloc(4)
  writePrefix(head, 0, 0, 2 ** 24)
  t.same([...head], [0x08, 0, 0, 0], 'exactly 16 MiB: the X bit, the 24 length bits clear')
  writePrefix(head, 0, 2, 2 ** 24 - 1)
  t.same([...head], [0x02, 0xff, 0xff, 0xff])
  const decoder = new FrameDecoder(2 ** 24)
  decoder.push(Buffer.from([0x08, 0, 0, 1]))
  t.equal(decoder.next(), false)
  t.match(decoder.error, /25th length bit/)
})

t.test('issue 23: router mode — a RawSocket client calls a procedure a WebSocket (autobahn-js) client registered, and back', async (t) => {
  const { app, url, target } = await startRaw(t, { ...RAW, realms: [{ name: 'realm1', router: true }] })
  const browser = await connectAutobahn(url)
  await browser.session.register('browser.echo', (args: unknown[]) => `echo: ${String(args[0])}`)
  const { client } = await connectRawSocket(target, 'msgpack')
  client.send([MSG.CALL, 1, {}, 'browser.echo', ['hi']])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['echo: hi']])
  client.send([MSG.REGISTER, 2, {}, 'device.read'])
  const registered = await client.next()
  t.equal(registered[0], MSG.REGISTERED)
  const result = browser.session.call('device.read', [7])
  const invocation = await client.next()
  t.equal(invocation[0], MSG.INVOCATION)
  client.send([MSG.YIELD, invocation[1], {}, [(invocation[4] as number[])[0] * 6]])
  t.equal(await result, 42, 'the WebSocket client gets the RawSocket callee\'s YIELD')
  t.match(app.wamp.stats().sessionsByTransport, { websocket: 1, rawsocket: 1 })
  client.close()
  await browser.close()
})

t.test('issue 23: RawSocket on a Unix socket', { skip: process.platform === 'win32' && 'no Unix sockets' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wamp-rs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'wamp.sock')
  const { app, target } = await startRaw(t, { rawsocket: { path } }, (app) => { app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number)) })
  t.equal(app.wamp.rawsocketAddress(), path)
  const { client } = await connectRawSocket(target, 'cbor')
  client.send([MSG.CALL, 1, {}, 'add', [20, 22]])
  t.same(await client.next(), [MSG.RESULT, 1, {}, [42]])
  t.equal([...app.wamp.sessions.values()][0].transport.remoteAddress, undefined, 'no IP on a Unix socket')
  client.close()
})

// A self-signed certificate, made for this run with the openssl CLI.
const hasOpenssl = spawnSync('openssl', ['version']).status === 0
function makeCert (dir: string): { key: Buffer, cert: Buffer, certFile: string } {
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile])
  if (r.status !== 0) throw new Error(String(r.stderr))
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile }
}

t.test('issue 23: RawSocket over TLS (self-signed certificate made at test time)', { skip: !hasOpenssl && 'no openssl CLI' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wamp-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { key, cert } = makeCert(dir)
  // helloTimeout bounds the TLS handshake too: the plain client below is cut after it (3 s here, not the default 10 s).
  const { app, target } = await startRaw(t, { helloTimeout: 3000, rawsocket: { port: 0, host: '127.0.0.1', tls: { key, cert } } }, (app) => { app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number)) })
  const { client, welcome } = await connectRawSocket({ ...target, tls: { ca: cert, servername: 'localhost' } }, 'json')
  t.equal(welcome[0], MSG.WELCOME)
  client.send([MSG.CALL, 1, {}, 'add', [1, 2]])
  t.same(await client.next(), [MSG.RESULT, 1, {}, [3]])
  client.close()
  // A plain TCP client on the TLS port gets nowhere, and does no harm.
  const plain = await raw(target)
  plain.socket.write(Buffer.from([0x7f, 0xf1, 0, 0]))
  await plain.expectEnd()
  t.equal(plain.reply, undefined)
  // One that never starts its TLS handshake is cut when the app closes (not left to the handshake timeout).
  const silent = await raw(target)
  await app.close()
  await silent.expectEnd()
  t.equal(app.wamp.connections, 0)
})

// autobahn-python's RawSocket client (asyncio), against the real server, in router mode with an autobahn-js callee.
const hasAutobahn = pythonHas('autobahn.asyncio.rawsocket')

async function runPython (t: Test, target: string, serializer: string): Promise<void> {
  const { code, err, line } = await runPythonHelper('autobahn-rawsocket.py', [target, serializer])
  t.equal(code, 0, err)
  t.same(line, { sum: 33, echo: 'echo: from python', events: [0, 1, 2] }, err)
}

async function pythonApp (t: Test, rawsocket: FastifyWampOptions['rawsocket']): Promise<{ app: Awaited<ReturnType<typeof startApp>>['app'], port: number | undefined }> {
  const { app, url } = await startApp(t, { rawsocket, realms: [{ name: 'realm1', router: true }] }, (app) => {
    app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number))
    app.wamp.register('burst', (args) => {
      for (let i = 0; i < (args[0] as number); i++) app.wamp.publishToAll('news', [i])
      return null
    })
  })
  const browser = await connectAutobahn(url)
  await browser.session.register('browser.echo', (args: unknown[]) => `echo: ${String(args[0])}`)
  t.teardown(() => browser.close())
  const address = app.wamp.rawsocketAddress()
  return { app, port: typeof address === 'object' && address !== null ? address.port : undefined }
}

for (const name of ['json', 'msgpack', 'cbor'] as const) {
  t.test(`issue 23: autobahn-python RawSocket (${name}) calls the app and an autobahn-js callee, subscribes, leaves`, { skip: !hasAutobahn && 'python3-autobahn is not installed' }, async (t) => {
    const { app, port } = await pythonApp(t, { port: 0, host: '127.0.0.1' })
    await runPython(t, `tcp:${String(port)}`, name)
    await until(() => app.wamp.sessions.size === 1, 2000, 'the python session to end')
    t.equal(app.wamp.stats().counters.sessionsClosed, 1)
  })
}

t.test('issue 23: autobahn-python RawSocket over a Unix socket and over TLS', { skip: (!hasAutobahn && 'python3-autobahn is not installed') || (!hasOpenssl && 'no openssl CLI') }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wamp-py-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'wamp.sock')
  await pythonApp(t, { path })
  await runPython(t, `unix:${path}`, 'json')
  const { key, cert, certFile } = makeCert(dir)
  const { port } = await pythonApp(t, { port: 0, host: '127.0.0.1', tls: { key, cert } })
  await runPython(t, `tls:${String(port)}:${certFile}`, 'msgpack')
})
