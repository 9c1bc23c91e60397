import t from 'tap'
import Type from 'typebox'
import { rejection, startApp, until } from './helpers/app.js'
import { connectRaw, MSG, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'
import { WampResult } from '../index.js'
import type { WampSession as Session } from '../index.js'

// PROTOCOL §2.6–2.9: timeouts, progressive results and invocations, cancellation — exact wire shapes and races.

t.test('progressive results go out only when the caller asked, then one final RESULT', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('count', { args: Type.Tuple([Type.Integer()]) }, async ([n], _k, ctx) => {
      for (let i = 1; i <= n; i++) ctx.progress(i)
      ctx.progress(new WampResult(['several', 'args'], { k: 1 }))
      return 'done'
    })
    app.wamp.register('generate', async function * ([n]: unknown[]) {
      for (let i = 0; i < (n as number); i++) yield { step: i }
      return 'finished'
    })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, { receive_progress: true }, 'count', [2]])
  t.same(await client.next(), [MSG.RESULT, 1, { progress: true }, [1]])
  t.same(await client.next(), [MSG.RESULT, 1, { progress: true }, [2]])
  t.same(await client.next(), [MSG.RESULT, 1, { progress: true }, ['several', 'args'], { k: 1 }])
  t.same(await client.next(), [MSG.RESULT, 1, {}, ['done']], 'the final RESULT has no progress flag')
  client.send([MSG.CALL, 2, {}, 'count', [3]])
  t.same(await client.next(), [MSG.RESULT, 2, {}, ['done']], 'no progress without receive_progress')
  client.send([MSG.CALL, 3, { receive_progress: true }, 'generate', [2]])
  t.same(await client.next(), [MSG.RESULT, 3, { progress: true }, [{ step: 0 }]])
  t.same(await client.next(), [MSG.RESULT, 3, { progress: true }, [{ step: 1 }]])
  t.same(await client.next(), [MSG.RESULT, 3, {}, ['finished']], 'an async generator streams its yields')
  await client.expectNone(30)
  await client.close()
})

t.test('progressive call invocations: chunks in order through ctx.input, one RESULT', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('sum.stream', { args: Type.Tuple([Type.Number()]) }, async (_args, _k, ctx) => {
      let total = 0
      const seen: number[] = []
      for await (const chunk of ctx.input ?? []) { seen.push(chunk.args[0]); total += chunk.args[0] }
      return new WampResult([total], { seen })
    }, { input: 'stream' })
  })
  const { client } = await connectRaw(url, { details: STREAMING_HELLO_DETAILS })
  client.send([MSG.CALL, 7, { progress: true }, 'sum.stream', [1]])
  client.send([MSG.CALL, 7, { progress: true }, 'sum.stream', [2]])
  await client.expectNone(30)
  client.send([MSG.CALL, 7, {}, 'sum.stream', [3]])
  t.same(await client.next(), [MSG.RESULT, 7, {}, [6], { seen: [1, 2, 3] }])
  client.send([MSG.CALL, 8, { progress: true }, 'sum.stream', [1]])
  client.send([MSG.CALL, 8, { progress: true }, 'sum.stream', ['bad chunk']])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 8, {}, 'wamp.error.invalid_argument'], 'every chunk is validated')
  await client.expectNone(50)
  await client.close()
})

t.test('CALL timeout → ERROR timeout, the AbortSignal fires, nothing after', async (t) => {
  let reason: unknown
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('slow', (_a, _k, ctx) => new Promise((resolve) => {
      ctx.signal.addEventListener('abort', () => { reason = ctx.signal.reason })
      setTimeout(() => resolve('too late'), 150)
    }))
  })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, { timeout: 30 }, 'slow'])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.timeout'])
  t.match(reason, { uri: 'wamp.error.timeout' })
  await client.expectNone(200)
  client.send([MSG.CALL, 2, { timeout: 1000 }, 'slow'])
  t.same(await client.next(), [MSG.RESULT, 2, {}, ['too late']], 'a call within its timeout succeeds')
  await client.close()
})

t.test('CANCEL modes: exactly one terminal message, never anything after it', async (t) => {
  const aborted: string[] = []
  let finished = 0
  // A handler ends when the test releases it, or 10 ms after its AbortSignal fires: by order, not by time.
  const release = new Map<string, () => void>()
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('work', (args, _k, ctx) => new Promise((resolve) => {
      const name = String(args[0])
      const tick = setInterval(() => ctx.progress('tick'), 10)
      const finish = (): void => { clearInterval(tick); finished++; resolve('result') }
      release.set(name, finish)
      ctx.signal.addEventListener('abort', () => { aborted.push(name); setTimeout(finish, 10) })
    }))
  })
  const { client } = await connectRaw(url)
  const terminal = async (id: number): Promise<unknown[]> => {
    for (;;) {
      const msg = await client.next(1000)
      if (msg[0] === MSG.RESULT && (msg[2] as Record<string, unknown>).progress === true) continue
      t.equal(msg[msg[0] === MSG.ERROR ? 2 : 1], id)
      return msg
    }
  }

  client.send([MSG.CALL, 1, { receive_progress: true }, 'work', ['skip']])
  await client.nextOfType(MSG.RESULT)
  client.send([MSG.CANCEL, 1, { mode: 'skip' }])
  t.same((await terminal(1)).slice(4), ['wamp.error.canceled'], 'skip: ERROR at once')
  t.equal(finished, 0, 'skip: the handler is still running')
  release.get('skip')?.()
  t.equal(finished, 1, 'skip: the handler kept running to its end')
  await client.expectNone(50)
  t.pass('skip: its result was discarded')
  t.notOk(aborted.includes('skip'), 'skip: no abort')

  client.send([MSG.CALL, 2, {}, 'work', ['kill']])
  await until(() => release.has('kill'), 5000, 'the kill handler to start')
  client.send([MSG.CANCEL, 2, {}])
  t.same((await terminal(2)).slice(4), ['wamp.error.canceled'], 'kill (the default): ERROR canceled…')
  t.equal(finished, 2, '…only when the handler settled (by order, not by time)')
  t.ok(aborted.includes('kill'), 'kill: the AbortSignal fired')

  client.send([MSG.CALL, 3, {}, 'work', ['killnowait']])
  await until(() => release.has('killnowait'), 5000, 'the killnowait handler to start')
  client.send([MSG.CANCEL, 3, { mode: 'killnowait' }])
  t.same((await terminal(3)).slice(4), ['wamp.error.canceled'])
  t.ok(aborted.includes('killnowait'), 'killnowait: the AbortSignal fired')
  await client.expectNone(160)

  client.send([MSG.CANCEL, 99, { mode: 'kill' }])
  client.send([MSG.CANCEL, 3, { mode: 'kill' }])
  await client.expectNone(50)
  t.pass('CANCEL for an unknown or finished request is ignored')
  await client.close()
})

t.test('after a kill or killnowait CANCEL, the handler\'s progressive results are dropped (as in router mode)', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('chatty', (_args, _k, ctx) => new Promise((resolve) => {
      ctx.progress('before')
      // Sent from the abort listener itself, and once more before the handler settles.
      ctx.signal.addEventListener('abort', () => {
        ctx.progress('while aborting')
        setImmediate(() => { ctx.progress('after'); resolve('done') })
      })
    }))
  })
  const { client } = await connectRaw(url)
  for (const [id, mode] of [[1, 'kill'], [2, 'killnowait']] as const) {
    client.send([MSG.CALL, id, { receive_progress: true }, 'chatty'])
    t.same(await client.next(), [MSG.RESULT, id, { progress: true }, ['before']])
    client.send([MSG.CANCEL, id, { mode }])
    t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, id, {}, 'wamp.error.canceled'], `${mode}: ERROR canceled, no progress first`)
  }
  await client.expectNone(50)
  await client.close()
})

t.test('cancel racing the result: whichever settles first is the only terminal message', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('quick', () => 'r') })
  const { client } = await connectRaw(url)
  for (let id = 1; id <= 20; id++) {
    client.send([MSG.CALL, id, {}, 'quick'])
    client.send([MSG.CANCEL, id, { mode: id % 2 === 0 ? 'killnowait' : 'skip' }])
  }
  const answers = new Map<number, number>()
  for (let i = 0; i < 20; i++) {
    const msg = await client.next()
    const id = (msg[0] === MSG.ERROR ? msg[2] : msg[1]) as number
    answers.set(id, (answers.get(id) ?? 0) + 1)
  }
  await client.expectNone(50)
  t.same([...answers.values()], Array(20).fill(1), 'one terminal message per request')
  await client.close()
})

t.test('pattern procedures answer every matching URI and tell the concrete one', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('com.files.', (_a, _k, ctx) => `prefix ${ctx.procedure}`, { match: 'prefix' })
    app.wamp.register('com.files.special', () => 'exact wins')
    app.wamp.register('com..status', (_a, _k, ctx) => `wildcard ${ctx.procedure}`, { match: 'wildcard' })
  })
  const { client } = await connectRaw(url)
  for (const [uri, expected] of [
    ['com.files.a.txt', 'prefix com.files.a.txt'],
    ['com.files.special', 'exact wins'],
    ['com.printer.status', 'wildcard com.printer.status'],
    ['com.files.status', 'prefix com.files.status']
  ]) {
    client.send([MSG.CALL, 1, {}, uri])
    t.same(await client.next(), [MSG.RESULT, 1, {}, [expected]], uri)
  }
  client.send([MSG.CALL, 2, {}, 'org.x.status.y'])
  t.same((await client.next()).slice(4, 5), ['wamp.error.no_such_procedure'])
  await client.close()
})

// ---- server → client calls (PROTOCOL §3) ------------------------------------------------------------------------

async function registered (url: string, roles?: Record<string, unknown>) {
  const details = roles === undefined ? undefined : { roles }
  const { client, sessionId } = await connectRaw(url, { details })
  client.send([MSG.REGISTER, 1, {}, 'client.proc'])
  const reply = await client.next()
  return { client, sessionId, registrationId: reply[2] as number }
}

t.test('REGISTER / UNREGISTER rules', async (t) => {
  const { url } = await startApp(t)
  const { client, registrationId } = await registered(url)
  t.ok(Number.isInteger(registrationId) && registrationId > 0)
  client.send([MSG.REGISTER, 2, {}, 'client.proc'])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.REGISTER, 2, {}, 'wamp.error.procedure_already_exists'])
  client.send([MSG.REGISTER, 3, {}, 'bad uri'])
  t.same((await client.next()).slice(4, 5), ['wamp.error.invalid_uri'])
  client.send([MSG.REGISTER, 4, {}, 'wamp.session.count'])
  t.same((await client.next()).slice(4, 5), ['wamp.error.invalid_uri'], 'wamp.* is reserved')
  client.send([MSG.UNREGISTER, 5, registrationId])
  t.same(await client.next(), [MSG.UNREGISTERED, 5])
  client.send([MSG.UNREGISTER, 6, registrationId])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.UNREGISTER, 6, {}, 'wamp.error.no_such_registration'])
  await client.close()
})

t.test('session.call: INVOCATION shape, YIELD, ERROR, progress, unknown procedure', async (t) => {
  const { url, app } = await startApp(t)
  const { client, sessionId, registrationId } = await registered(url)
  const session = app.wamp.sessions.get(sessionId) as Session

  const first = session.call('client.proc', [1], { a: 2 })
  t.same(await client.next(), [MSG.INVOCATION, 1, registrationId, { procedure: 'client.proc' }, [1], { a: 2 }])
  client.send([MSG.YIELD, 1, {}, ['ok'], { b: 3 }])
  t.same(await first, { args: ['ok'], kwargs: { b: 3 } })

  const progress: unknown[] = []
  const second = session.call('client.proc', [], undefined, { onProgress: (r) => progress.push(r.args[0]) })
  const inv = await client.next()
  t.same(inv[3], { procedure: 'client.proc', receive_progress: true })
  client.send([MSG.YIELD, inv[1], { progress: true }, [10]])
  client.send([MSG.YIELD, inv[1], { progress: true }, [20]])
  client.send([MSG.YIELD, inv[1], {}, ['final']])
  t.same((await second).args, ['final'])
  t.same(progress, [10, 20])

  const third = session.call('client.proc')
  const inv3 = await client.next()
  client.send([MSG.ERROR, MSG.INVOCATION, inv3[1], {}, 'app.error.nope', ['why'], { code: 1 }])
  client.send([MSG.YIELD, inv3[1], {}, ['late']])
  t.match(await rejection(third), { uri: 'app.error.nope', args: ['why'], kwargs: { code: 1 } })

  t.match(await rejection(session.call('client.other')), { uri: 'wamp.error.no_such_procedure' })
  await client.expectNone(30)
  t.pass('nothing went on the wire for an unregistered procedure')
  client.send([MSG.YIELD, 424242, {}, ['stray']])
  await client.expectNone(30)
  await client.close()
})

t.test('timeout and cancel of server calls send INTERRUPT only to callees that announced call_canceling', async (t) => {
  const { url, app } = await startApp(t)
  const plain = await registered(url)
  const canceling = await registered(url, { callee: { features: { call_canceling: true } } })

  for (const callee of [plain, canceling]) {
    const session = app.wamp.sessions.get(callee.sessionId) as Session
    // (Caught at once: on a loaded machine the 30 ms can pass before the INVOCATION is read.)
    const timedOut = rejection(session.call('client.proc', [], {}, { timeout: 30 }))
    const inv = await callee.client.next()
    t.match(await timedOut, { uri: 'wamp.error.timeout' })
    if (callee === canceling) {
      const interrupt = await callee.client.next()
      t.same(interrupt.slice(0, 2), [MSG.INTERRUPT, inv[1]])
      t.equal((interrupt[2] as Record<string, unknown>).mode, 'killnowait')
    } else {
      await callee.client.expectNone(50)
      t.pass('no INTERRUPT for a callee without call_canceling')
    }
    callee.client.send([MSG.YIELD, inv[1], {}, ['late']])

    const controller = new AbortController()
    const canceled = session.call('client.proc', [], {}, { signal: controller.signal })
    const inv2 = await callee.client.next()
    controller.abort()
    t.match(await rejection(canceled), { uri: 'wamp.error.canceled' })
    if (callee === canceling) t.same((await callee.client.next()).slice(0, 2), [MSG.INTERRUPT, inv2[1]])
    callee.client.send([MSG.ERROR, MSG.INVOCATION, inv2[1], {}, 'wamp.error.canceled'])
    await callee.client.expectNone(50)
  }
  await Promise.all([plain.client.close(), canceling.client.close()])
})

t.test('a server call waiting on a client is rejected when the client disconnects', async (t) => {
  const { url, app } = await startApp(t)
  const { client, sessionId } = await registered(url)
  const pending = (app.wamp.sessions.get(sessionId) as Session).call('client.proc')
  await client.next()
  await client.terminate()
  t.match(await rejection(pending), { uri: 'wamp.error.canceled' })
  await until(() => app.wamp.sessions.size === 0)
})
