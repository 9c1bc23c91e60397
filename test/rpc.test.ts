import t from 'tap'
import Type from 'typebox'
import { startApp, sleep } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { WampError, WampResult } from '../index.js'

// The RPC suite runs once per serializer.
for (const protocol of ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']) {
  t.test(`RPC over ${protocol}`, async (t) => {
    const seen: string[] = []
    const { url } = await startApp(t, {}, (app) => {
      app.wamp.register('com.math.add', { args: Type.Tuple([Type.Number(), Type.Number()]) }, ([a, b]) => a + b)
      app.wamp.register('com.user.greet', { kwargs: Type.Object({ name: Type.String({ minLength: 1 }) }) },
        (_args, { name }) => `hello ${name}`)
      app.wamp.register('com.nothing', () => undefined)
      app.wamp.register('com.list', () => [1, 2])
      app.wamp.register('com.multi', () => new WampResult([1, 'two'], { three: 3 }))
      app.wamp.register('com.kwonly', () => new WampResult(undefined, { ok: true }))
      app.wamp.register('com.async', async (args) => { await sleep(5); return args.length })
      app.wamp.register('com.fail.app', () => { throw new WampError('com.error.bad', ['nope'], { code: 7 }) })
      app.wamp.register('com.fail.crash', () => { throw new Error('secret internals') })
      app.wamp.register('com.fail.reject', async () => { throw new Error('secret') })
      app.wamp.register('com.who', (_a, _k, ctx) => { seen.push(ctx.procedure); return ctx.session.id })
      app.wamp.register('com.binary', (args) => new WampResult(args))
    })
    const { client, sessionId } = await connectRaw(url, { protocols: [protocol] })
    const call = async (id: number, uri: string, args?: unknown[], kwargs?: Record<string, unknown>) => {
      const msg: unknown[] = [MSG.CALL, id, {}, uri]
      if (args !== undefined || kwargs !== undefined) msg.push(args ?? [])
      if (kwargs !== undefined) msg.push(kwargs)
      client.send(msg)
      return client.next()
    }

    t.same(await call(1, 'com.math.add', [3, 4]), [MSG.RESULT, 1, {}, [7]], 'a plain value becomes args [v]')
    t.same(await call(2, 'com.user.greet', [], { name: 'ada' }), [MSG.RESULT, 2, {}, ['hello ada']], 'kwargs are validated and passed')
    t.same(await call(3, 'com.nothing'), [MSG.RESULT, 3, {}], 'undefined sends no args')
    t.same(await call(4, 'com.list'), [MSG.RESULT, 4, {}, [[1, 2]]], 'a list is one argument')
    t.same(await call(5, 'com.multi'), [MSG.RESULT, 5, {}, [1, 'two'], { three: 3 }], 'WampResult carries args and kwargs')
    t.same(await call(6, 'com.kwonly'), [MSG.RESULT, 6, {}, [], { ok: true }], '[] holds the place of args before kwargs')
    t.same(await call(7, 'com.async', [1, 2, 3]), [MSG.RESULT, 7, {}, [3]], 'async handlers')
    t.same(await call(8, 'com.who'), [MSG.RESULT, 8, {}, [sessionId]], 'the handler knows the calling session')
    t.same(seen, ['com.who'])

    const unknown = await call(9, 'com.missing')
    t.same(unknown.slice(0, 5), [MSG.ERROR, MSG.CALL, 9, {}, 'wamp.error.no_such_procedure'])

    const bad = await call(10, 'com.math.add', [3, 'four'])
    t.same(bad.slice(0, 5), [MSG.ERROR, MSG.CALL, 10, {}, 'wamp.error.invalid_argument'])
    t.match((bad[5] as string[])[0], /args\/1.*number/, 'a readable message')
    t.match(bad[6], { errors: [{ where: 'args', path: '/1' }] }, 'the validation errors in kwargs')
    t.same((await call(11, 'com.math.add')).slice(4, 5), ['wamp.error.invalid_argument'], 'missing args are invalid')
    t.same((await call(12, 'com.user.greet', [], { name: '' })).slice(4, 5), ['wamp.error.invalid_argument'])

    t.same(await call(13, 'com.fail.app'), [MSG.ERROR, MSG.CALL, 13, {}, 'com.error.bad', ['nope'], { code: 7 }],
      'an application error keeps its URI, args and kwargs')
    const crash = await call(14, 'com.fail.crash')
    t.same(crash.slice(0, 5), [MSG.ERROR, MSG.CALL, 14, {}, 'wamp.error.runtime_error'])
    t.notMatch(JSON.stringify(crash), /secret/, 'no internals leak')
    t.same((await call(15, 'com.fail.reject')).slice(4, 5), ['wamp.error.runtime_error'])
    t.same((await call(16, 'bad uri')).slice(4, 5), ['wamp.error.invalid_uri'])

    const bytes = Buffer.from([0, 1, 2, 250, 255])
    const echoed = await call(17, 'com.binary', [bytes, 'text'])
    t.ok(Buffer.from((echoed[3] as unknown[])[0] as Uint8Array).equals(bytes), 'binary values round-trip')
    await client.close()
  })
}

t.test('matches replies to random, out-of-order request ids and never blocks a fast call behind a slow one', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('slow', async () => { await sleep(200); return 'slow' })
    app.wamp.register('fast', () => 'fast')
  })
  const { client } = await connectRaw(url)
  const ids = [2 ** 53, 3_999_999_999, 17, 4_294_967_295, 12345]
  client.send([MSG.CALL, ids[0], {}, 'slow'])
  for (const id of ids.slice(1)) client.send([MSG.CALL, id, {}, 'fast'])
  const replies = [await client.next(), await client.next(), await client.next(), await client.next(), await client.next()]
  t.same(replies.slice(0, 4).map((r) => r[1]), ids.slice(1), 'fast calls answer first, in order')
  t.same(replies[4], [MSG.RESULT, 2 ** 53, {}, ['slow']])
  await client.close()
})

t.test('a handler may await a call to the same client without deadlock', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('ask.client', async (_a, _k, ctx) => {
      const answer = await ctx.session.call('client.name')
      return `client says ${String(answer.args[0])}`
    })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.REGISTER, 1, {}, 'client.name'])
  const registered = await client.next()
  t.equal(registered[0], MSG.REGISTERED)
  client.send([MSG.CALL, 2, {}, 'ask.client'])
  const invocation = await client.next()
  t.same(invocation.slice(0, 4), [MSG.INVOCATION, invocation[1], registered[2], { procedure: 'client.name' }])
  client.send([MSG.YIELD, invocation[1], {}, ['bob']])
  t.same(await client.next(), [MSG.RESULT, 2, {}, ['client says bob']])
  await client.close()
})

t.test('many sessions call at once', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('double', { args: Type.Tuple([Type.Integer()]) }, async ([n]) => { await sleep(1); return n * 2 })
  })
  const sessions = await Promise.all(Array.from({ length: 30 }, () => connectRaw(url)))
  await Promise.all(sessions.map(async ({ client }, i) => {
    for (let k = 1; k <= 10; k++) client.send([MSG.CALL, k, {}, 'double', [i * 100 + k]])
    for (let k = 1; k <= 10; k++) t.same(await client.next(), [MSG.RESULT, k, {}, [(i * 100 + k) * 2]])
  }))
  await Promise.all(sessions.map(({ client }) => client.close()))
})

t.test('register-time mistakes throw FST_WAMP errors', async (t) => {
  const { app } = await startApp(t, {}, (app) => { app.wamp.register('dup', () => 1) })
  t.throws(() => app.wamp.register('dup', () => 2), { code: 'FST_WAMP_DUPLICATE_PROCEDURE' })
  t.throws(() => app.wamp.register('not a uri', () => 2), { code: 'FST_WAMP_INVALID_URI' })
  t.throws(() => app.wamp.register('x', {}, undefined as never), { code: 'FST_WAMP_INVALID_HANDLER' })
  t.throws(() => app.wamp.realm('nope'), { code: 'FST_WAMP_NO_SUCH_REALM' })
  t.equal(app.wamp.unregister('dup'), true)
  t.equal(app.wamp.unregister('dup'), false)
})

t.test('exposeErrors sends the exception text to the caller', async (t) => {
  const { url } = await startApp(t, { exposeErrors: true }, (app) => {
    app.wamp.register('boom', () => { throw new Error('visible text') })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'boom'])
  t.same(await client.next(), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.runtime_error', ['visible text']])
  await client.close()
})
