// Type-level tests of contracts: `npm test` type-checks this file, so each `@ts-expect-error` below must really be an
// error (a wrong argument, a wrong result or an unknown URI, on the server and on the client) or the run fails.
// The runtime part makes sure the well-typed lines are real code: they run against a server.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { WampResult } from '../index.js'
import type { CallContext, ContractHandlers, TopicPublisher } from '../index.js'
import { typedClient } from '../lib/client/index.js'
import type { ClientAdapter, TypedClient } from '../lib/client/index.js'
import { connect, typed } from '../lib/testing/index.js'
import { startApp } from './helpers/app.js'
import { api, clientApi } from './helpers/contract.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function assertType<T extends true> (_: T): void {}

const good: ContractHandlers<typeof api> = {
  'com.test.add': ([a, b], _kwargs, ctx) => {
    assertType<Equal<typeof a, number>>(true)
    assertType<Equal<typeof ctx, CallContext<[number, number], Record<string, unknown>>>>(true)
    if (a > 1000) throw api.error('com.test.overflow', [a])
    return a + b
  },
  'com.test.pair': async (args, { name }) => {
    assertType<Equal<typeof args, unknown[]>>(true)
    assertType<Equal<typeof name, string>>(true)
    return new WampResult([name, 1], { ok: true })
  },
  'com.test.free': (args, kwargs) => [args, kwargs]
}

// Compiled, never run: each of these is a type error.
export function serverMistakes (app: FastifyInstance): void {
  app.wamp.implement(api, {
    // @ts-expect-error a wrong result: the contract says number
    'com.test.add': ([a, b]) => `${a + b}`,
    // @ts-expect-error a wrong WampResult: [string, integer] expected
    'com.test.pair': (_args, { name }) => new WampResult([name, 'one'], { ok: true }),
    'com.test.free': () => 1
  })
  app.wamp.implement(api, {
    // @ts-expect-error a wrong argument: the first one is a number
    'com.test.add': ([a, b]: [string, number]) => a.length + b,
    // @ts-expect-error kwargs.ok must be a boolean
    'com.test.pair': (_args, { name }) => new WampResult([name, 1], { ok: 'yes' }),
    'com.test.free': () => 1
  })
  // @ts-expect-error a missing handler (com.test.free)
  app.wamp.implement(api, { 'com.test.add': good['com.test.add'], 'com.test.pair': good['com.test.pair'] })
  app.wamp.implement(api, {
    ...good,
    // @ts-expect-error an unknown URI
    'com.test.nope': () => 1
  })
  // @ts-expect-error a wrong argument: an integer expected
  app.wamp.topic(api, 'com.test.tick').publish(['1'], { at: 'now' })
  // @ts-expect-error kwargs are required by the topic's schema
  app.wamp.topic(api, 'com.test.tick').publish([1])
  // @ts-expect-error an unknown topic
  app.wamp.topic(api, 'com.test.tock')
  // @ts-expect-error an error the contract does not declare
  api.error('com.test.underflow', [1])
  // @ts-expect-error a wrong error payload
  api.error('com.test.overflow', ['many'])
}

export async function clientMistakes (client: TypedClient<typeof api>, callee: TypedClient<typeof clientApi>): Promise<void> {
  // @ts-expect-error the result is a number, not a string
  const wrong: string = (await client.call('com.test.add', [1, 1])).args[0]
  // @ts-expect-error the handler must take what the topic carries
  await client.subscribe('com.test.tick', ([n]: [string]) => n + wrong)
  // @ts-expect-error a wrong payload
  await client.publish('com.test.note', [1])
  // @ts-expect-error a wrong result from a client-side handler
  await callee.register('com.test.client.ask', ([question]) => question.length)
}

t.test('server side: a well-typed implementation and publisher run', async (t) => {
  const { app } = await startApp(t, {}, (app) => app.wamp.implement(api, good))
  const tick = app.wamp.topic(api, 'com.test.tick')
  assertType<Equal<typeof tick, TopicPublisher<typeof api.topics['com.test.tick']>>>(true)
  t.equal(tick.publish([1], { at: 'now' }), 0, 'no subscriber yet')
  const client = await connect(app)
  t.teardown(() => client.close())
  t.same((await client.call('com.test.add', [1, 2])).args, [3])
  t.match(await client.call('com.test.add', [1001, 2]).catch((e: unknown) => e), { uri: 'com.test.overflow', args: [1001] })
})

t.test('client side: the typed client takes only the contract\'s URIs and payloads', async (t) => {
  const { app } = await startApp(t, {}, (app) => app.wamp.implement(api, good))
  const raw = await connect(app)
  t.teardown(() => raw.close())
  const client: TypedClient<typeof api> = typed(raw, api)
  assertType<Equal<typeof client, ReturnType<typeof typedClient<typeof api>>>>(true)

  const sum = await client.call('com.test.add', [2, 3])
  assertType<Equal<typeof sum, { args: [number], kwargs: Record<string, unknown> }>>(true)
  t.same(sum.args, [5])
  const pair = await client.call('com.test.pair', [], { name: 'x' })
  assertType<Equal<typeof pair.args, [string, number]>>(true)
  assertType<Equal<typeof pair.kwargs, { ok: boolean }>>(true)
  t.same(pair, { args: ['x', 1], kwargs: { ok: true } })
  t.same((await client.call('com.test.free')).args, [[[], {}]], 'a procedure without schemas takes no payload')

  // @ts-expect-error a wrong argument
  await t.rejects(client.call('com.test.add', ['2', 3]), { uri: 'wamp.error.invalid_argument' })
  // @ts-expect-error a missing argument
  await t.rejects(client.call('com.test.add', [2]), { uri: 'wamp.error.invalid_argument' })
  // @ts-expect-error kwargs required by the schema
  await t.rejects(client.call('com.test.pair', []), { uri: 'wamp.error.invalid_argument' })
  // @ts-expect-error an unknown URI
  await t.rejects(client.call('com.test.nope', []), TypeError)
  await client.subscribe('com.test.tick', ([n], { at }) => {
    assertType<Equal<typeof n, number>>(true)
    assertType<Equal<typeof at, string>>(true)
  })
  await client.publish('com.test.note', ['hello'])
  // @ts-expect-error an unknown topic
  await t.rejects(client.publish('com.test.nada', ['x']), TypeError)

  const callee = typed(raw, clientApi)
  await callee.register('com.test.client.ask', ([question]) => question.toUpperCase())
  // @ts-expect-error an unknown procedure
  await t.rejects(callee.register('com.test.client.nope', () => 1), TypeError)

  const err: unknown = await client.call('com.test.add', [1001, 9]).catch((e: unknown) => e)
  if (api.isError(err, 'com.test.overflow')) assertType<Equal<typeof err.uri, 'com.test.overflow'>>(true)
  t.ok(api.isError(err, 'com.test.overflow'))
  t.notOk(api.isError(err, 'wamp.error.canceled'), 'a standard WAMP error URI is accepted')
  // @ts-expect-error a misspelt error URI
  t.notOk(api.isError(err, 'com.test.overflwo'))
  t.ok(typedClient(api, {} as ClientAdapter), 'any adapter')
})
