// Type-level tests: `npm test` type-checks this file, so a wrong inference fails the run. The runtime part checks
// that the same registrations behave as their types say.
import t from 'tap'
import Type from 'typebox'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { WampResult } from '../index.js'
import type { CallContext, FastifyWamp, Realm, WampSession as Session } from '../index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function assertType<T extends true> (_: T): void {}

t.test('schemas type the handler arguments', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('typed', {
      args: Type.Tuple([Type.String(), Type.Number()]),
      kwargs: Type.Object({ flag: Type.Boolean(), note: Type.Optional(Type.String()) })
    }, (args, kwargs, ctx) => {
      assertType<Equal<typeof args, [string, number]>>(true)
      assertType<Equal<typeof kwargs, { flag: boolean, note?: string }>>(true)
      assertType<Equal<typeof ctx, CallContext<[string, number], { flag: boolean, note?: string }>>>(true)
      assertType<Equal<typeof ctx.session, Session>>(true)
      assertType<Equal<typeof ctx.signal, AbortSignal>>(true)
      // @ts-expect-error args[0] is a string
      if (kwargs.note === 'never') args[0].toFixed()
      return new WampResult([args[0].toUpperCase(), args[1] + 1], { flag: !kwargs.flag })
    })
    app.wamp.register('untyped', (args, kwargs) => {
      assertType<Equal<typeof args, unknown[]>>(true)
      assertType<Equal<typeof kwargs, Record<string, unknown>>>(true)
      return args.length
    })
    app.wamp.subscribe('typed.topic', { args: Type.Tuple([Type.Integer()]) }, (args, _kwargs, ctx) => {
      assertType<Equal<typeof args, [number]>>(true)
      assertType<Equal<typeof ctx.topic, string>>(true)
    })
    // @ts-expect-error the handler must accept what the schema describes
    app.wamp.register('wrong', { args: Type.Tuple([Type.String()]) }, (args: [number]) => args[0])
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'typed', ['a', 1], { flag: true }])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['A', 2], { flag: false }])
  client.send([MSG.CALL, 2, {}, 'typed', ['a', 1], { flag: 'yes' }])
  t.same((await client.next()).slice(4, 5), ['wamp.error.invalid_argument'])
  client.send([MSG.CALL, 3, {}, 'untyped', [1, 2, 3]])
  t.same(await client.next(), [MSG.RESULT, 3, {}, [3]])
  await client.close()
})

t.test('session.call results are typed by a result schema', async (t) => {
  const { url, app } = await startApp(t)
  const { client, sessionId } = await connectRaw(url)
  client.send([MSG.REGISTER, 1, {}, 'client.info'])
  await client.next()
  const session = app.wamp.sessions.get(sessionId) as Session
  const pending = session.call('client.info', [], {}, { result: { args: Type.Tuple([Type.String(), Type.Integer()]) } })
  const invocation = await client.nextOfType(MSG.INVOCATION)
  client.send([MSG.YIELD, invocation[1], {}, ['v1', 2]])
  const result = await pending
  assertType<Equal<typeof result.args, [string, number]>>(true)
  t.same(result.args, ['v1', 2])
  const bad = session.call('client.info', [], {}, { result: { args: Type.Tuple([Type.String()]) } })
  const second = await client.nextOfType(MSG.INVOCATION)
  client.send([MSG.YIELD, second[1], {}, [42]])
  const err = await bad.then(() => undefined, (e: { uri?: string }) => e)
  t.equal(err?.uri, 'wamp.error.invalid_argument', 'a result that does not match its schema rejects')
  await client.close()
})

t.test('issue 19: the public surface is interfaces; internals are not reachable without a cast', async (t) => {
  const { app } = await startApp(t)
  assertType<Equal<typeof app.wamp, FastifyWamp>>(true)
  assertType<Equal<ReturnType<FastifyWamp['realm']>, Realm>>(true)
  app.wamp.onSessionOpen((session) => {
    assertType<Equal<typeof session, Session>>(true)
    // @ts-expect-error identity is read-only
    session.id = 1
    // @ts-expect-error identity is read-only
    session.authrole = 'admin'
    // @ts-expect-error the wire is internal
    session.send([1])
    // @ts-expect-error the in-flight tables are internal
    session.calls.clear()
  })
  // Type-checked, never run.
  const internals = (): unknown[] => [
    // @ts-expect-error the socket entry point is internal
    app.wamp.accept,
    // @ts-expect-error options are internal
    app.wamp.options,
    // @ts-expect-error the realm's roles are internal
    app.wamp.realm('realm1').dealer
  ]
  t.type(internals, 'function')
  t.pass('compiles only with the expected errors')
})
