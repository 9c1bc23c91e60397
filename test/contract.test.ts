import t from 'tap'
import Type from 'typebox'
import autobahn from 'autobahn'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { WampResult } from '../index.js'
import { autobahnAdapter, defineContract, typedClient, wampyAdapter } from '../lib/client/index.js'
import type { AnyContract, ClientAdapter, TypedClient, TypedClientOptions, ValidationIssue } from '../lib/client/index.js'
import { connect, typed } from '../lib/testing/index.js'
import { hubOf, rejection, startApp, until } from './helpers/app.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import { api, clientApi } from './helpers/contract.js'

// Contracts over real sockets: the server implements `api`, and autobahn-js, wampy.js and the testing client — each
// through the typed client — call it, subscribe to its topics, publish, and implement `clientApi` for the server.

function implementApi (app: FastifyInstance, options?: { validateResults?: boolean }): void {
  app.wamp.implement(api, {
    'com.test.add': ([a, b]) => {
      if (a + b > 1000) throw api.error('com.test.overflow', [a + b])
      return a + b
    },
    'com.test.pair': async (_args, { name }) => new WampResult([name, name.length], { ok: true }),
    'com.test.free': (args, kwargs) => ({ count: args.length, keys: Object.keys(kwargs) })
  }, options)
  app.wamp.subscribe('com.test.note', api.topics['com.test.note'], ([text], _kwargs, ctx) => {
    app.wamp.topic(api, 'com.test.tick').publish([text.length], { at: `from ${ctx.session.id}` })
  })
}

type Connector = (url: string, app: FastifyInstance) => Promise<{
  typed: <C extends AnyContract>(contract: C) => TypedClient<C>
  close: () => Promise<unknown>
}>

const clients: Record<string, Connector> = {
  'autobahn-js': async (url) => {
    const handle = await connectAutobahn(url)
    return { typed: (contract) => typedClient(contract, autobahnAdapter(handle.session, autobahn)), close: () => handle.close() }
  },
  'wampy.js': async (url) => {
    const handle = await connectWampy(url)
    return { typed: (contract) => typedClient(contract, wampyAdapter(handle.client)), close: () => handle.close() }
  },
  'the testing client': async (_url, app) => {
    const client = await connect(app)
    return { typed: (contract) => typed(client, contract), close: () => client.close() }
  }
}

for (const [name, connectClient] of Object.entries(clients)) {
  t.test(`${name} through the typed client: calls, errors, events and a procedure the server calls`, async (t) => {
    const { app, url } = await startApp(t, {}, (app) => implementApi(app))
    const connection = await connectClient(url, app)
    t.teardown(connection.close)
    const client = connection.typed(api)

    const { args: [sum] } = await client.call('com.test.add', [2, 3])
    t.equal(sum, 5)
    t.same(await client.call('com.test.pair', [], { name: 'wamp' }), { args: ['wamp', 4], kwargs: { ok: true } })
    t.same((await client.call('com.test.free', [1, 2], { a: 1 })).args, [{ count: 2, keys: ['a'] }])

    const overflow = await rejection(client.call('com.test.add', [999, 2]))
    t.ok(api.isError(overflow, 'com.test.overflow'), 'a declared application error arrives as a WampError with its URI')
    if (api.isError(overflow, 'com.test.overflow')) t.same(overflow.args, [1001])
    const invalid = await rejection(client.call('com.test.add', ['2', 3] as unknown as [number, number]))
    t.ok(api.isError(invalid, 'wamp.error.invalid_argument'), 'the server checks the arguments against the contract')

    const ticks: Array<{ n: number, at: string }> = []
    const subscription = await client.subscribe('com.test.tick', ([n], { at }) => { ticks.push({ n, at }) })
    await client.publish('com.test.note', ['hello'], undefined, { acknowledge: true })
    await until(() => ticks.length === 1, 2000, 'the tick')
    t.equal(ticks[0].n, 5)
    t.match(ticks[0].at, /^from \d+$/)
    t.equal(app.wamp.topic(api, 'com.test.tick').publish([7], { at: 'server' }), 1, 'the typed publisher reaches the subscriber')
    await until(() => ticks.length === 2, 2000, 'the second tick')
    t.same(ticks[1], { n: 7, at: 'server' })
    await subscription.unsubscribe()

    const callee = connection.typed(clientApi)
    await callee.register('com.test.client.ask', ([question]) => {
      if (question === 'fail') throw new Error('the page failed')
      return `answer to ${question}`
    })
    const session = [...app.wamp.sessions.values()][0]
    await session.registered('com.test.client.ask')
    const result = clientApi.procedures['com.test.client.ask'].result
    t.same((await session.call('com.test.client.ask', ['life'], {}, { result })).args, ['answer to life'])
    const failed = await rejection(session.call('com.test.client.ask', ['fail']))
    t.ok(clientApi.isError(failed, 'wamp.error.runtime_error'), 'an exception in a client handler is a runtime_error')
  })
}

t.test('implement() fills the realm catalog that reflection and the API document read', async (t) => {
  const { app } = await startApp(t, {}, (app) => implementApi(app))
  const catalog = hubOf(app).realm('realm1').catalog
  const add = catalog.procedure('com.test.add')
  t.equal(add?.provider, 'application')
  t.equal(add?.schema?.description, 'Adds two numbers.')
  t.equal(add?.schema?.result, api.procedures['com.test.add'].result, 'the result schema, as declared')
  t.same(Object.keys(add?.schema?.errors ?? {}), ['com.test.overflow'])
  t.same(catalog.topics().map((topic) => [topic.uri, topic.described, topic.handled]), [['com.test.note', true, true], ['com.test.tick', true, false]],
    'every topic of the contract is described; the app handles publications to one')
  t.equal(catalog.topic('com.test.tick')?.schema?.kwargs, api.topics['com.test.tick'].kwargs)
})

t.test('validateResults: a result that does not match the contract answers runtime_error; off, it is sent as is', async (t) => {
  const lying = defineContract({ procedures: { 'com.test.lie': { result: { args: Type.Tuple([Type.Number()]) } } } })
  const liar = { 'com.test.lie': (() => 'not a number') as unknown as () => number }
  const { app } = await startApp(t, { realms: ['realm1', 'realm2'] }, (app) => {
    app.wamp.implement(lying, liar, { validateResults: true })
    app.wamp.realm('realm2').implement(lying, liar)
  })
  const checked = await connect(app)
  t.teardown(() => checked.close())
  const err = await rejection(checked.call('com.test.lie'))
  t.match(err, { uri: 'wamp.error.runtime_error', args: [/^result: invalid args/] })
  const unchecked = await connect(app, { realm: 'realm2' })
  t.teardown(() => unchecked.close())
  t.same((await unchecked.call('com.test.lie')).args, ['not a number'])
})

t.test('client validation: results, events and invocations that do not match the contract', async (t) => {
  const { app } = await startApp(t, {}, (app) => {
    // The server ignores the contract here, so the client sees what it really sends.
    app.wamp.register('com.test.add', () => 'five')
  })
  const raw = await connect(app)
  t.teardown(() => raw.close())
  const invalidEvents: ValidationIssue[][] = []
  const options: TypedClientOptions = { validate: true, onInvalidEvent: (_topic, issues) => invalidEvents.push(issues) }
  const client = typed(raw, api, options)
  const err = await rejection(client.call('com.test.add', [2, 3]))
  t.ok(api.isError(err, 'wamp.error.invalid_argument'), 'a result that does not match rejects')
  t.same(await typed(raw, api).call('com.test.add', [2, 3]), { args: ['five'], kwargs: {} }, 'unvalidated, it passes')

  const ticks: number[] = []
  await client.subscribe('com.test.tick', ([n]) => { ticks.push(n) })
  app.wamp.publishToAll('com.test.tick', ['x'], { at: 'now' })
  app.wamp.publishToAll('com.test.tick', [3], { at: 'now' })
  await until(() => ticks.length === 1 && invalidEvents.length === 1, 2000, 'the events')
  t.same(ticks, [3], 'the valid event is delivered')
  t.equal(invalidEvents[0][0].where, 'args', 'the invalid one is reported, not delivered')

  const callee = typed(raw, clientApi, { validate: true })
  let called = 0
  await callee.register('com.test.client.ask', ([q]) => { called++; return q })
  const session = [...app.wamp.sessions.values()][0]
  const refused = await rejection(session.call('com.test.client.ask', [42]))
  t.ok(clientApi.isError(refused, 'wamp.error.invalid_argument'), 'an invocation that does not match is refused')
  t.equal(called, 0, 'the handler did not run')
  t.same(raw.errors, [])
})

t.test('implement() checks the handlers at registration and is all or nothing', async (t) => {
  const { app } = await startApp(t)
  const handlers = { 'com.test.add': () => 1, 'com.test.pair': () => new WampResult(['a', 1] as [string, number], { ok: true }) }
  t.throws(() => app.wamp.implement(api, handlers as never), { code: 'FST_WAMP_INVALID_HANDLER' }, 'a missing handler')
  t.throws(() => app.wamp.implement(api, { ...handlers, 'com.test.free': () => 1, 'com.test.other': () => 1 } as never),
    { code: 'FST_WAMP_INVALID_OPTION' }, 'a handler for a URI the contract does not have')
  t.throws(() => app.wamp.implement({} as never, {} as never), { code: 'FST_WAMP_INVALID_OPTION' }, 'not a contract')
  app.wamp.register('com.test.free', () => 0)
  t.throws(() => app.wamp.implement(api, { ...handlers, 'com.test.free': () => 1 }), { code: 'FST_WAMP_DUPLICATE_PROCEDURE' })
  const client = await connect(app)
  t.teardown(() => client.close())
  const err = await rejection(client.call('com.test.add', [1, 2]))
  t.match(err, { uri: 'wamp.error.no_such_procedure' }, 'the procedures registered before the failure were removed')
  t.throws(() => app.wamp.topic(api, 'com.test.nope' as never), { code: 'FST_WAMP_INVALID_URI' })
})

t.test('defineContract() refuses malformed URIs and contract.error() undeclared errors', async (t) => {
  t.throws(() => defineContract({ procedures: { 'com..bad': {} } }), TypeError)
  t.throws(() => defineContract({ topics: { 'com.x#y': {} } }), TypeError)
  t.throws(() => defineContract({ procedures: { 'com.ok': { errors: { 'not a uri': {} } } } }), TypeError)
  t.throws(() => (api.error as (uri: string) => unknown)('com.test.undeclared'), TypeError)
  t.match(api.error('com.test.overflow', [2000]), { name: 'WampError', uri: 'com.test.overflow', args: [2000] })
  await t.rejects(typedClient(api, {} as ClientAdapter).call('com.test.nope' as 'com.test.free'), TypeError)
})

// The client entry and the contract must bundle for the browser: nothing they import (transitively) is a Node module.
t.test('lib/client and lib/contract import nothing but each other, lib/wire and typebox', async (t) => {
  const root = resolve(import.meta.dirname, '..')
  const seen = new Set<string>()
  const external = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    const source = readFileSync(file, 'utf8')
    for (const [, spec] of source.matchAll(/^(?:import|export)\b[^;']*?\bfrom\s+'([^']+)'/gm)) {
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')))
      else external.add(spec)
    }
  }
  visit(join(root, 'lib/client/index.ts'))
  t.same([...external].sort(), ['typebox', 'typebox/compile'])
  t.ok([...seen].every((file) => /\/lib\/(client|contract|wire)\/|\/lib\/validation\.ts$/.test(file)), [...seen].map((f) => f.slice(root.length)).join(' '))
})
