import t from 'tap'
import { startApp, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'

// PROTOCOL §1.6: after WELCOME, anything that is not valid WAMP ends the session with ABORT protocol_violation.
const cases: Array<[string, { frame: unknown[] | string | Buffer, binary?: boolean, protocol?: string }]> = [
  ['undecodable JSON', { frame: '[48, 1, {' }],
  ['a binary frame on JSON', { frame: Buffer.from('[48,1,{},"x"]'), binary: true }],
  ['a text frame on msgpack', { frame: '[48,1,{},"x"]', binary: false, protocol: 'wamp.2.msgpack' }],
  ['undecodable msgpack', { frame: Buffer.from([0xc1, 0xc1, 0xc1]), binary: true, protocol: 'wamp.2.msgpack' }],
  ['undecodable CBOR', { frame: Buffer.from([0xff, 0xfe]), binary: true, protocol: 'wamp.2.cbor' }],
  ['a JSON object', { frame: '{"a": 1}' }],
  ['a JSON string', { frame: '"hello"' }],
  ['an empty list', { frame: [] }],
  ['a string message type', { frame: ['48', 1, {}, 'x'] }],
  ['an unknown message type', { frame: [999] }],
  ['WELCOME from a client', { frame: [MSG.WELCOME, 1, {}] }],
  ['RESULT from a client', { frame: [MSG.RESULT, 1, {}] }],
  ['INVOCATION from a client', { frame: [MSG.INVOCATION, 1, 1, {}] }],
  ['EVENT from a client', { frame: [MSG.EVENT, 1, 1, {}] }],
  ['INTERRUPT from a client', { frame: [MSG.INTERRUPT, 1, {}] }],
  ['a second HELLO', { frame: [MSG.HELLO, 'realm1', { roles: { caller: {} } }] }],
  ['AUTHENTICATE without CHALLENGE', { frame: [MSG.AUTHENTICATE, 'sig', {}] }],
  ['a truncated CALL', { frame: [MSG.CALL] }],
  ['CALL with a string request id', { frame: [MSG.CALL, 'x', {}, 'p'] }],
  ['CALL with a negative request id', { frame: [MSG.CALL, -1, {}, 'p'] }],
  ['CALL with a request id above 2^53', { frame: [MSG.CALL, 2 ** 53 + 2, {}, 'p'] }],
  ['CALL with a fractional request id', { frame: [MSG.CALL, 1.5, {}, 'p'] }],
  ['CALL with list options', { frame: [MSG.CALL, 1, [], 'p'] }],
  ['CALL with a number procedure', { frame: [MSG.CALL, 1, {}, 5] }],
  ['CALL with dict args', { frame: [MSG.CALL, 1, {}, 'p', {}] }],
  ['CALL with list kwargs', { frame: [MSG.CALL, 1, {}, 'p', [], []] }],
  ['CALL with too many elements', { frame: [MSG.CALL, 1, {}, 'p', [], {}, 1] }],
  ['CANCEL with string options', { frame: [MSG.CANCEL, 1, 'kill'] }],
  ['PUBLISH without topic', { frame: [MSG.PUBLISH, 1, {}] }],
  ['SUBSCRIBE with args', { frame: [MSG.SUBSCRIBE, 1, {}, 't', []] }],
  ['UNSUBSCRIBE with a string id', { frame: [MSG.UNSUBSCRIBE, 1, 'x'] }],
  ['REGISTER with null options', { frame: [MSG.REGISTER, 1, null, 'p'] }],
  ['UNREGISTER truncated', { frame: [MSG.UNREGISTER, 1] }],
  ['YIELD with string args', { frame: [MSG.YIELD, 1, {}, 'x'] }],
  ['ERROR for a CALL', { frame: [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.x'] }],
  ['ERROR without an error URI', { frame: [MSG.ERROR, MSG.INVOCATION, 1, {}] }],
  ['GOODBYE with a number reason', { frame: [MSG.GOODBYE, {}, 5] }],
  // Spec "Payload Passthru Mode": not announced by this router, so its use is a protocol error.
  ['CALL in payload passthru mode', { frame: [MSG.CALL, 1, { ppt_scheme: 'wamp.eth', ppt_serializer: 'cbor' }, 'p', [Buffer.from('x')]] }],
  ['PUBLISH in payload passthru mode', { frame: [MSG.PUBLISH, 1, { ppt_scheme: 'mqtt' }, 't', []] }],
  ['YIELD in payload passthru mode', { frame: [MSG.YIELD, 1, { ppt_scheme: 'x_custom' }, []] }],
  ['ERROR in payload passthru mode', { frame: [MSG.ERROR, MSG.INVOCATION, 1, { ppt_scheme: 'mqtt' }, 'app.error'] }],
  ['CALL in payload passthru mode over msgpack', { frame: [MSG.CALL, 1, { ppt_scheme: 'wamp.eth' }, 'p', [Buffer.from('x')]], protocol: 'wamp.2.msgpack' }]
]

for (const [what, { frame, binary, protocol }] of cases) {
  t.test(`aborts with protocol_violation on ${what}`, async (t) => {
    const { url, app } = await startApp(t)
    const { client } = await connectRaw(url, { protocols: [protocol ?? 'wamp.2.json'] })
    if (Array.isArray(frame)) client.send(frame)
    else client.sendRaw(frame, binary ?? false)
    const abort = await client.next()
    t.equal(abort[0], MSG.ABORT)
    t.equal(abort[2], 'wamp.error.protocol_violation')
    t.match((abort[1] as Record<string, unknown>).message, /\w/, 'the message says what was wrong')
    t.equal((await client.expectClose()).code, 1002)
    await until(() => app.wamp.sessions.size === 0)
  })
}

t.test('an empty ppt_scheme is not payload passthru mode: the CALL is answered', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('ping', () => 'pong') })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, { ppt_scheme: '' }, 'ping'])
  client.send([MSG.CALL, 2, { ppt_scheme: null }, 'ping'])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['pong']])
  t.same(await client.next(), [MSG.RESULT, 2, {}, ['pong']])
  await client.close()
})

t.test('a duplicate in-flight CALL request id is a violation', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('wait', () => new Promise(() => {})) })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 5, {}, 'wait'])
  client.send([MSG.CALL, 5, {}, 'wait'])
  const abort = await client.next()
  t.same([abort[0], abort[2]], [MSG.ABORT, 'wamp.error.protocol_violation'])
  await client.expectClose()
})

t.test('a client ABORT simply ends the session', async (t) => {
  const { url, app } = await startApp(t)
  const { client } = await connectRaw(url)
  client.send([MSG.ABORT, { message: 'bye' }, 'wamp.error.system_shutdown'])
  await client.expectClose()
  await until(() => app.wamp.sessions.size === 0)
  t.pass('closed')
})

t.test('frames over maxPayload close the socket with 1009', async (t) => {
  const { url, app } = await startApp(t, { maxPayload: 1024 })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'x', ['y'.repeat(2000)]])
  t.equal((await client.expectClose()).code, 1009)
  await until(() => app.wamp.sessions.size === 0)
})

t.test('the server survives every violation and keeps serving others', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('ping', () => 'pong') })
  const { client: good } = await connectRaw(url)
  for (const [, { frame, binary, protocol }] of cases) {
    const { client } = await connectRaw(url, { protocols: [protocol ?? 'wamp.2.json'] })
    if (Array.isArray(frame)) client.send(frame)
    else client.sendRaw(frame, binary ?? false)
    await client.expectClose()
  }
  good.send([MSG.CALL, 1, {}, 'ping'])
  t.same(await good.next(), [MSG.RESULT, 1, {}, ['pong']])
  await good.close()
})
