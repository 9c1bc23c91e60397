import t from 'tap'
import { rejection, startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { WampResult } from '../index.js'
import type { Serializer } from '../index.js'

// Issue 15, "a single frame must never take the process down": raw frames as an attacker would send them. Strict
// decoding answers anything but plain WAMP data with ABORT protocol_violation saying what was wrong; a value the
// server cannot encode for a peer ends the request that carried it with one ERROR; no promise rejects unhandled.

const crashes: unknown[] = []
const onCrash = (err: unknown): void => { crashes.push(err) }
process.on('unhandledRejection', onCrash)
process.on('uncaughtException', onCrash)
t.teardown(() => {
  process.off('unhandledRejection', onCrash)
  process.off('uncaughtException', onCrash)
})

const JSON_P = { protocols: ['wamp.2.json'] }
const MSGPACK_P = { protocols: ['wamp.2.msgpack'] }
const CBOR_P = { protocols: ['wamp.2.cbor'] }

function echoProcedures (app: { wamp: { register: (uri: string, handler: (args: unknown[]) => unknown) => unknown } }): void {
  app.wamp.register('app.echo', (args) => args[0])
  app.wamp.register('app.aecho', async (args) => await Promise.resolve(args[0]))
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

async function expectViolation (t: Test, client: RawClient, about: RegExp): Promise<void> {
  const abort = await client.nextOfType(MSG.ABORT)
  t.equal(abort[2], 'wamp.error.protocol_violation')
  t.match((abort[1] as { message: string }).message, about, `the ABORT says what was wrong: ${(abort[1] as { message: string }).message}`)
  await client.expectClose()
}

t.test('issue 15: 10 000 nested lists in a JSON CALL to an async echo → ABORT protocol_violation, no crash', async (t) => {
  const { url } = await startApp(t, {}, echoProcedures)
  const { client } = await connectRaw(url, JSON_P)
  client.sendRaw(`[48,1,{},"app.aecho",[${'['.repeat(10_000)}${']'.repeat(10_000)}]]`)
  await expectViolation(t, client, /nested deeper than 64 \(maxDepth\)/)
  const { client: deeper } = await connectRaw(url, JSON_P)
  deeper.sendRaw(`[48,1,{},"app.echo",[${'['.repeat(100_000)}${']'.repeat(100_000)}]]`)
  await expectViolation(t, deeper, /nested deeper than 64|nested too deeply/)
  const { client: ok } = await connectRaw(url, JSON_P)
  const within = JSON.parse(`${'['.repeat(62)}1${']'.repeat(62)}`) as unknown
  ok.send([MSG.CALL, 2, {}, 'app.aecho', [within]])
  t.same(await ok.nextOfType(MSG.RESULT), [MSG.RESULT, 2, {}, [within]], 'depth 64 (message list included) is accepted')
  await ok.close()
})

t.test('issue 15: maxDepth is an option, checked at register time', async (t) => {
  const { url } = await startApp(t, { maxDepth: 8 }, echoProcedures)
  const { client } = await connectRaw(url, JSON_P)
  client.send([MSG.CALL, 1, {}, 'app.echo', [[[[[[[1]]]]]]]])
  t.same(await client.nextOfType(MSG.RESULT), [MSG.RESULT, 1, {}, [[[[[[[1]]]]]]]], 'the innermost list at depth 8')
  client.send([MSG.CALL, 2, {}, 'app.echo', [{ a: [[[[[[1]]]]]] }]])
  await expectViolation(t, client, /nested deeper than 8/)
  await t.rejects(startApp(t, { maxDepth: 5000 }), /maxDepth must be at most 1000/)
  await t.rejects(startApp(t, { maxDepth: 4 }), /maxDepth must be an integer ≥ 8/)
})

t.test('issue 15: a 21-byte msgpack frame whose list contains itself (structured clone 0x69/0x70) → ABORT', async (t) => {
  const { url } = await startApp(t, {}, echoProcedures)
  const { client } = await connectRaw(url, MSGPACK_P)
  // [48, 1, {}, "a.b", <id 0: [<pointer 0>]>]
  const frame = Buffer.from([0x95, 0x30, 0x01, 0x80, 0xa3, 0x61, 0x2e, 0x62, 0xd6, 0x69, 0, 0, 0, 0, 0x91, 0xd6, 0x70, 0, 0, 0, 0])
  t.equal(frame.length, 21)
  client.sendRaw(frame)
  await expectViolation(t, client, /could not be decoded as wamp\.2\.msgpack/)
  const { client: date } = await connectRaw(url, MSGPACK_P)
  // A timestamp (ext -1) decodes to a Date.
  date.sendRaw(Buffer.from([0x95, 0x30, 0x01, 0x80, 0xa8, ...Buffer.from('app.echo'), 0x91, 0xd6, 0xff, 0, 0, 0, 1]))
  await expectViolation(t, date, /Date is not WAMP data/)
})

t.test('issue 15: CBOR shared references (tags 28/29) making a cycle → ABORT protocol_violation', async (t) => {
  const { url } = await startApp(t, {}, echoProcedures)
  const { client } = await connectRaw(url, CBOR_P)
  // [48, 1, {}, "app.aecho", [28([29(0)])]]
  client.sendRaw(Buffer.from([0x85, 0x18, 0x30, 0x01, 0xa0, 0x69, ...Buffer.from('app.aecho'), 0x81, 0xd8, 0x1c, 0x81, 0xd8, 0x1d, 0x00]))
  await expectViolation(t, client, /appears more than once/)
})

t.test('issue 15: a CBOR bignum PUBLISH → ERROR invalid_argument for the publisher; the JSON subscriber gets nothing and lives on', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', broker: true }] })
  const { client: sub } = await connectRaw(url, JSON_P)
  sub.send([MSG.SUBSCRIBE, 1, {}, 'app.t'])
  await sub.nextOfType(MSG.SUBSCRIBED)
  const { client: pub } = await connectRaw(url, CBOR_P)
  // [16, 1, {acknowledge: true}, "app.t", [2(h'010000000000000000')]] — 2^64 as a bignum
  const head = [0x85, 0x10, 0x01, 0xa1, 0x6b, ...Buffer.from('acknowledge'), 0xf5, 0x65, ...Buffer.from('app.t'), 0x81]
  pub.sendRaw(Buffer.from([...head, 0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0]))
  const refused = await pub.next()
  t.same(refused.slice(0, 5), [MSG.ERROR, MSG.PUBLISH, 1, {}, 'wamp.error.invalid_argument'], 'the publisher learns why, nobody is aborted')
  await sub.expectNone(100)
  pub.send([MSG.PUBLISH, 3, { acknowledge: true }, 'app.t', [1]])
  t.equal((await pub.nextOfType(MSG.PUBLISHED))[1], 3, 'the publisher lives on')
  t.same((await sub.nextOfType(MSG.EVENT))[4], [1])
  const { client: fine } = await connectRaw(url, CBOR_P)
  fine.send([MSG.PUBLISH, 2, {}, 'app.t', [2 ** 40, -0, 0.5, Buffer.from([1])]])
  const event = await sub.nextOfType(MSG.EVENT)
  t.same(event[4], [2 ** 40, 0, 0.5, '\u0000AQ=='], 'the JSON subscriber still receives plain data (binary as \\u0000 + base64)')
  await Promise.all([sub.close(), fine.close()])
})

t.test('issue 15: NaN, Infinity and numbers overflowing to Infinity are refused in every serializer', async (t) => {
  const { url } = await startApp(t, {}, echoProcedures)
  for (const [protocols, frame] of [
    [JSON_P, '[48,1,{},"app.echo",[NaN]]'],
    [JSON_P, '[48,1,{},"app.echo",[1e400]]'],
    [MSGPACK_P, Buffer.from([0x95, 0x30, 0x01, 0x80, 0xa8, ...Buffer.from('app.echo'), 0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0])],
    [CBOR_P, Buffer.from([0x85, 0x18, 0x30, 0x01, 0xa0, 0x68, ...Buffer.from('app.echo'), 0x81, 0xf9, 0x7c, 0x00])]
  ] as const) {
    const { client } = await connectRaw(url, protocols)
    client.sendRaw(frame)
    await expectViolation(t, client, /finite|could not be decoded/)
  }
})

t.test('issue 15: a handler returning a BigInt or a cycle → ERROR runtime_error; the session goes on', async (t) => {
  const cycle: unknown[] = []
  cycle.push(cycle)
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('app.big', () => 2n ** 70n)
    app.wamp.register('app.abig', async () => await Promise.resolve(2n ** 70n))
    app.wamp.register('app.cycle', () => cycle)
    app.wamp.register('app.acycle', async () => await Promise.resolve(cycle))
    app.wamp.register('app.progress', (_a, _k, ctx) => {
      ctx.progress(cycle)
      return 'never'
    })
    app.wamp.register('app.ok', () => new WampResult(['still here']))
  })
  for (const protocols of [JSON_P, MSGPACK_P, CBOR_P]) {
    const { client } = await connectRaw(url, protocols)
    let id = 0
    const procedures = protocols === JSON_P ? ['app.big', 'app.abig', 'app.cycle', 'app.acycle'] : ['app.cycle', 'app.acycle']
    for (const procedure of procedures) {
      client.send([MSG.CALL, ++id, {}, procedure, []])
      const error = await client.next()
      t.same(error.slice(0, 5), [MSG.ERROR, MSG.CALL, id, {}, 'wamp.error.runtime_error'], `${protocols.protocols[0]} ${procedure}`)
      t.match((error[5] as string[])[0], /^the result cannot be encoded as wamp\.2\./)
    }
    client.send([MSG.CALL, ++id, { receive_progress: true }, 'app.progress', []])
    const error = await client.next()
    t.same(error.slice(0, 5), [MSG.ERROR, MSG.CALL, id, {}, 'wamp.error.runtime_error'], 'a progressive result that cannot be encoded ends the call')
    await client.expectNone(50)
    client.send([MSG.CALL, ++id, {}, 'app.ok', []])
    t.same(await client.next(), [MSG.RESULT, id, {}, ['still here']], 'the session goes on')
    await client.close()
  }
})

t.test('issue 15: session.call() with arguments that cannot be encoded rejects with invalid_argument', async (t) => {
  const { app, url } = await startApp(t)
  const { client } = await connectRaw(url, JSON_P)
  client.send([MSG.REGISTER, 1, {}, 'client.proc'])
  await client.nextOfType(MSG.REGISTERED)
  const session = [...app.wamp.sessions.values()][0]
  t.match(await rejection(session.call('client.proc', [1n])), { uri: 'wamp.error.invalid_argument' })
  t.equal(app.wamp.publishToAll('client.topic', [1n]), 0, 'publishToAll with an unencodable value sends nothing and does not throw')
  await client.expectNone(50)
  await client.close()
})

// A custom serializer that refuses to encode one string: the only way, with strict decoding, for a value from one
// client not to reach another (every builtin serializer carries plain WAMP data).
const picky: Serializer = {
  id: 'picky',
  binary: false,
  encode (message) {
    const text = JSON.stringify(message)
    if (text.includes('forbidden')) throw new Error('picky refuses that word')
    return text
  },
  decode: (data) => JSON.parse(data.toString('utf8'), (_k, v: unknown) => (v === 'date' ? new Date(0) : v))
}

t.test('issue 15: router mode — a YIELD the caller\'s serializer cannot carry ends the call with one ERROR; the callee is not punished', async (t) => {
  const { url } = await startApp(t, { serializers: [picky], realms: [{ name: 'realm1', router: true, broker: true }] })
  const { client: callee } = await connectRaw(url, JSON_P)
  callee.send([MSG.REGISTER, 1, {}, 'com.echo'])
  await callee.nextOfType(MSG.REGISTERED)
  const { client: caller } = await connectRaw(url, { protocols: ['wamp.2.picky'] })
  caller.send([MSG.REGISTER, 1, {}, 'com.picky'])
  await caller.nextOfType(MSG.REGISTERED)
  callee.send([MSG.CALL, 7, {}, 'com.picky', ['forbidden']])
  const error = await callee.next()
  t.same(error.slice(0, 5), [MSG.ERROR, MSG.CALL, 7, {}, 'wamp.error.invalid_argument'], 'arguments the callee\'s serializer cannot carry: ERROR invalid_argument to the caller')
  t.match((error[5] as string[])[0], /the call's payload cannot be encoded as wamp\.2\.picky/)
  await caller.expectNone(50)
  caller.send([MSG.CALL, 8, {}, 'com.echo', ['ok']])
  const invocation = await callee.nextOfType(MSG.INVOCATION)
  callee.send([MSG.YIELD, invocation[1], {}, ['forbidden']])
  const failed = await caller.next()
  t.same(failed.slice(0, 5), [MSG.ERROR, MSG.CALL, 8, {}, 'wamp.error.runtime_error'])
  t.match((failed[5] as string[])[0], /the result cannot be encoded as wamp\.2\.picky/)
  await caller.expectNone(50)
  callee.send([MSG.PUBLISH, 2, { acknowledge: true }, 'com.t', ['fine']])
  t.equal((await callee.next())[0], MSG.PUBLISHED, 'the callee goes on')

  caller.send([MSG.SUBSCRIBE, 3, {}, 'com.t'])
  await caller.nextOfType(MSG.SUBSCRIBED)
  callee.send([MSG.PUBLISH, 4, { acknowledge: true }, 'com.t', ['forbidden']])
  t.equal((await callee.next())[0], MSG.PUBLISHED, 'a publication some subscribers cannot take does not ABORT the publisher')
  await caller.expectNone(50)
  callee.send([MSG.PUBLISH, 5, {}, 'com.t', ['after']])
  t.same((await caller.nextOfType(MSG.EVENT))[4], ['after'], 'nor the subscriber')

  caller.send([MSG.CALL, 9, {}, 'com.echo', ['date']])
  await expectViolation(t, caller, /Date is not WAMP data/)
  await callee.close()
})

t.test('issue 15: no unhandled rejection or uncaught exception in this file', async (t) => {
  t.same(crashes, [])
})
