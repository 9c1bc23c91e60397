import t from 'tap'
import Type from 'typebox'
import { rejection, startApp, until } from './helpers/app.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import type { FastifyInstance } from 'fastify'
import type { WampSession as Session } from '../index.js'

// Advanced RPC and patterns with the real npm clients.

function setup (app: FastifyInstance, aborted: string[]): void {
  app.wamp.register('com.progress', { args: Type.Tuple([Type.Integer()]) }, async ([n], _k, ctx) => {
    for (let i = 1; i <= n; i++) ctx.progress(i)
    return 'done'
  })
  app.wamp.register('com.sum.stream', async (_args, _k, ctx) => {
    let total = 0
    for await (const chunk of ctx.input ?? []) total += chunk.args.reduce((a: number, b) => a + (b as number), 0)
    return total
  }, { input: 'stream' })
  app.wamp.register('com.forever', (args, _k, ctx) => new Promise((resolve) => {
    ctx.signal.addEventListener('abort', () => { aborted.push(String(args[0])); resolve('ignored') })
  }))
  app.post('/ask/:id', async (request) => {
    const session = app.wamp.sessions.get(Number((request.params as { id: string }).id)) as Session
    const progress: unknown[] = []
    try {
      const result = await session.call('client.compute', [6, 7], {}, { timeout: 500, onProgress: (r) => progress.push(r.args[0]) })
      return { result: result.args[0], progress }
    } catch (err) {
      return { error: (err as { uri: string }).uri, progress }
    }
  })
}

t.test('autobahn-js: progressive results, kill cancel, a progressive callee, pattern subscriptions', async (t) => {
  const aborted: string[] = []
  const { url, app, port } = await startApp(t, {}, (app) => setup(app, aborted))
  const ab = await connectAutobahn(url)
  const { session } = ab

  const progress: unknown[] = []
  const pending = session.call('com.progress', [3], {}, { receive_progress: true }) as unknown as
    Promise<unknown> & { progress (cb: (p: unknown) => void): Promise<unknown> }
  const result = await pending.progress((p) => { progress.push(p) })
  t.equal(result, 'done')
  t.same(progress, [1, 2, 3])

  const call = session.call('com.forever', ['ab-kill'])
  setTimeout(() => call.cancel({ mode: 'kill' }), 20)
  const canceled = await Promise.resolve(call).then(() => undefined, (e: any) => e)
  t.equal(canceled?.error, 'wamp.error.canceled')
  t.same(aborted, ['ab-kill'], 'the handler saw its AbortSignal fire')

  await session.register('client.compute', (args, _kw, details) => {
    details?.progress?.(['half'])
    return (args as number[])[0] * (args as number[])[1]
  })
  const asked = await (await fetch(`http://127.0.0.1:${port}/ask/${session.id}`, { method: 'POST' })).json()
  t.same(asked, { result: 42, progress: ['half'] }, 'the server called the browser-style callee and saw its progress')

  const events: Array<[unknown, unknown]> = []
  await session.subscribe('com.sensors.', (args, _kw, details) => { events.push([args?.[0], details?.topic]) }, { match: 'prefix' })
  await session.subscribe('com..alarm', (args, _kw, details) => { events.push([args?.[0], details?.topic]) }, { match: 'wildcard' })
  app.wamp.publishToAll('com.sensors.temp', [21])
  app.wamp.publishToAll('com.kitchen.alarm', ['fire'])
  await until(() => events.length === 2)
  t.same(events, [[21, 'com.sensors.temp'], ['fire', 'com.kitchen.alarm']])

  t.same(ab.errors, [], 'autobahn saw no protocol errors')
  await ab.close()
})

t.test('autobahn-js as callee never receives INTERRUPT (it did not announce call_canceling)', async (t) => {
  const { url, app } = await startApp(t)
  const ab = await connectAutobahn(url)
  let invoked = 0
  await ab.session.register('client.slow', () => { invoked++; return new Promise((resolve) => setTimeout(() => resolve('late'), 100)) })
  const session = app.wamp.sessions.get(ab.session.id as number) as Session
  t.match(await rejection(session.call('client.slow', [], {}, { timeout: 20 })), { uri: 'wamp.error.timeout' })
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(invoked, 1)
  t.same(ab.errors, [], 'no INTERRUPT reached it and its late YIELD was discarded quietly')
  t.equal((await session.call('client.slow')).args[0], 'late', 'the session still works')
  await ab.close()
})

for (const serializer of ['json', 'msgpack'] as const) {
  t.test(`wampy.js (${serializer}): progressiveCall, progress, cancel, a callee that never gets INTERRUPT`, async (t) => {
    const aborted: string[] = []
    const { url, app, port } = await startApp(t, {}, (app) => setup(app, aborted))
    const wy = await connectWampy(url, { serializer })
    const { client } = wy

    const { result, sendData } = client.progressiveCall('com.sum.stream', [1, 2])
    sendData([3])
    sendData([4], { progress: false })
    t.same((await result).argsList, [10], 'chunks streamed into one RESULT')

    const progress: unknown[] = []
    const done = await client.call('com.progress', [2], { progress_callback: (r: { argsList?: unknown[] }) => { progress.push(r.argsList?.[0]) } })
    t.same(done.argsList, ['done'])
    t.same(progress, [1, 2])

    for (const mode of ['skip', 'kill', 'killnowait'] as const) {
      const pending = client.call('com.forever', [`wy-${mode}`])
      const reqId = client.getOpStatus().reqId as number
      await new Promise((resolve) => setTimeout(resolve, 10))
      client.cancel(reqId, { mode })
      const err = await pending.then(() => undefined, (e: any) => e)
      t.equal(err?.errorUri, 'wamp.error.canceled', `${mode}: canceled`)
    }
    await until(() => aborted.length === 2)
    t.same(aborted.sort(), ['wy-kill', 'wy-killnowait'], 'kill modes fire the AbortSignal; skip does not')

    await client.register('client.compute', async () => new Promise((resolve) => setTimeout(() => resolve({ argsList: [1] }), 1000)))
    const session = [...app.wamp.sessions.values()][0]
    const answer = await (await fetch(`http://127.0.0.1:${port}/ask/${session.id}`, { method: 'POST' })).json()
    t.same(answer, { error: 'wamp.error.timeout', progress: [] })
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.same(wy.errors, [], 'wampy got no INTERRUPT (it would have aborted the session)')
    t.equal(app.wamp.sessions.size, 1, 'still connected')
    await wy.close()
  })
}
