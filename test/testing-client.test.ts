import t from 'tap'
import Type from 'typebox'
import { startApp, until } from './helpers/app.js'
import { connect, urlOf, WampError, WampResult } from '../lib/testing/index.js'
import type { WampSession as Session } from '../index.js'

const Sum = { args: Type.Tuple([Type.Number()]) }

for (const serializer of ['json', 'msgpack', 'cbor'] as const) {
  t.test(`testing client (${serializer}): typed call, errors, progress`, async (t) => {
    const { app } = await startApp(t, {}, (app) => {
      app.wamp.register('com.math.add', { args: Type.Tuple([Type.Number(), Type.Number()]) }, ([a, b]) => a + b)
      app.wamp.register('com.math.fail', () => { throw new WampError('com.math.error.nope', ['no'], { code: 7 }) })
      app.wamp.register('com.math.count', async (_args, _kwargs, ctx) => {
        for (let i = 1; i <= 3; i++) ctx.progress(i)
        return new WampResult([4], { done: true })
      })
    })
    const client = await connect(app, { serializer })
    t.ok(client.id >= 1, 'WELCOME gave a session id')
    t.equal(client.welcome.realm, 'realm1', 'joined the app\'s default realm')

    const { args: [sum] } = await client.call('com.math.add', [2, 3], undefined, { result: Sum })
    const typed: number = sum
    t.equal(typed, 5, 'the result is typed by the TypeBox schema')

    const bad = await client.call('com.math.add', [2, 'x']).catch((e: unknown) => e)
    t.ok(bad instanceof WampError, 'an ERROR rejects with WampError')
    t.equal((bad as WampError).uri, 'wamp.error.invalid_argument')
    const app1 = await client.call('com.math.fail').catch((e: unknown) => e) as WampError
    t.same([app1.uri, app1.args, app1.kwargs], ['com.math.error.nope', ['no'], { code: 7 }], 'uri, args and kwargs')
    const missing = await client.call('com.nope').catch((e: unknown) => e) as WampError
    t.equal(missing.uri, 'wamp.error.no_such_procedure')
    const mismatch = await client.call('com.math.add', [1, 1], undefined, { result: { args: Type.Tuple([Type.String()]) } })
      .catch((e: unknown) => e) as WampError
    t.equal(mismatch.uri, 'wamp.error.invalid_argument', 'a result that does not match the schema rejects')
    t.match(mismatch.args[0], /^result: /)

    const progress: unknown[] = []
    const final = await client.call('com.math.count', [], undefined, { onProgress: (r) => progress.push(r.args[0]) })
    t.same(progress, [1, 2, 3], 'progressive results reach onProgress in order')
    t.same([final.args, final.kwargs], [[4], { done: true }])

    t.same(client.errors, [])
    const info = await client.close()
    t.equal(info.reason, 'wamp.close.goodbye_and_out', 'GOODBYE is answered')
    await until(() => app.wamp.sessions.size === 0)
  })
}

t.test('testing client: subscribe, nextEvent, pattern match, unsubscribe, publish', async (t) => {
  const heard: unknown[] = []
  const { app } = await startApp(t, {}, (app) => {
    app.wamp.subscribe('com.chat.say', { args: Type.Tuple([Type.String()]) }, ([text]) => { heard.push(text) })
  })
  const client = await connect(app)
  const seen: string[] = []
  const news = await client.subscribe('com.news', (args: unknown[]) => { seen.push(args[0] as string) })
  await client.subscribe('com.sport.', undefined, { match: 'prefix' })

  app.wamp.publishToAll('com.news', ['first'], { n: 1 })
  app.wamp.publishToAll('com.news', ['second'])
  const first = await client.nextEvent('com.news')
  t.same([first.args, first.kwargs, first.subscription], [['first'], { n: 1 }, news.id], 'buffered events come oldest first')
  t.same((await client.nextEvent('com.news')).args, ['second'])
  t.same(seen, ['first', 'second'], 'the handler saw both too')

  app.wamp.publishToAll('com.sport.tennis', ['ace'])
  const sport = await client.nextEvent('com.sport.tennis')
  t.equal(sport.details.topic, 'com.sport.tennis', 'a pattern subscription is keyed by the concrete topic')

  const late = client.nextEvent('com.news', 1000)
  setTimeout(() => app.wamp.publishToAll('com.news', ['later']), 10)
  t.same((await late).args, ['later'], 'nextEvent also waits for an event to come')
  await t.rejects(client.nextEvent('com.news', 20), /no EVENT on "com.news" within 20 ms/)

  await news.unsubscribe()
  t.equal(app.wamp.publishToAll('com.news', ['gone']), 0, 'unsubscribed')

  t.ok(await client.publish('com.chat.say', ['hi'], undefined, { acknowledge: true }), 'acknowledged with a publication id')
  const refused = await client.publish('com.chat.say', [42], undefined, { acknowledge: true }).catch((e: unknown) => e) as WampError
  t.equal(refused.uri, 'wamp.error.invalid_argument', 'a refused publication rejects')
  await until(() => heard.length === 1)
  t.same(heard, ['hi'])
  await client.close()
})

t.test('testing client: register answers server calls; WampError, WampResult, progress and INTERRUPT', async (t) => {
  const { app } = await startApp(t)
  const client = await connect(app)
  let interrupted = false
  await client.register('com.browser.echo', ([text], _kw, details) => {
    details.progress(['working'])
    return `${text}!`
  }, { schema: { args: Type.Tuple([Type.String()]) } })
  await client.register('com.browser.pair', () => new WampResult([1, 2], { k: 'v' }))
  await client.register('com.browser.refuse', () => { throw new WampError('com.browser.error.no', ['never']) })
  await client.register('com.browser.slow', (_a, _k, details) => new Promise((resolve) => {
    details.signal.addEventListener('abort', () => { interrupted = true; resolve('late') })
  }))
  const session = app.wamp.sessions.get(client.id) as Session

  const progress: unknown[] = []
  const echo = await session.call('com.browser.echo', ['hey'], undefined, { onProgress: (r) => progress.push(r.args[0]) })
  t.same(echo.args, ['hey!'])
  t.same(progress, ['working'])
  t.same(await session.call('com.browser.pair'), { args: [1, 2], kwargs: { k: 'v' } })
  const invalid = await session.call('com.browser.echo', [1]).catch((e: unknown) => e) as WampError
  t.equal(invalid.uri, 'wamp.error.invalid_argument', 'the registration schema validates INVOCATION arguments')
  const refused = await session.call('com.browser.refuse').catch((e: unknown) => e) as WampError
  t.same([refused.uri, refused.args], ['com.browser.error.no', ['never']])
  const slow = await session.call('com.browser.slow', [], undefined, { timeout: 20 }).catch((e: unknown) => e) as WampError
  t.equal(slow.uri, 'wamp.error.timeout')
  await until(() => interrupted, 2000, 'INTERRUPT to abort the handler signal')
  t.same(client.errors, [])
  await client.close()
})

t.test('testing client: by URL, ABORT on an unknown realm, server shutdown and cancel', async (t) => {
  const { app, url } = await startApp(t, { path: '/wamp' }, (app) => {
    app.wamp.register('com.wait', (_a, _k, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('stopped'))))
  })
  t.equal(urlOf(app), url, 'urlOf() follows the plugin path')
  const aborted = await connect(url, { realm: 'nope' }).catch((e: unknown) => e) as WampError
  t.ok(aborted instanceof WampError)
  t.equal(aborted.uri, 'wamp.error.no_such_realm')

  const client = await connect(url)
  const controller = new AbortController()
  const pending = client.call('com.wait', [], undefined, { signal: controller.signal })
  setTimeout(() => controller.abort(), 10)
  t.equal((await pending.catch((e: unknown) => e) as WampError).uri, 'wamp.error.canceled', 'CANCEL kill: the server answers canceled')

  const closing = app.close()
  const info = await client.closed
  await closing
  t.equal(info.reason, 'wamp.close.system_shutdown', 'the server\'s GOODBYE is seen and answered')
  await t.rejects(client.call('com.wait'), /session is closed/)
})
