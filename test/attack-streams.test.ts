import t from 'tap'
import fc from 'fast-check'
import { internal, startApp } from './helpers/app.js'
import { connectRaw, MSG, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'

// Streamed input (progressive call invocations) held unread: bounded per session, not only per call — else
// maxCallsPerSession streams could each hold maxStreamBufferBytes (4 GiB with the defaults).

t.test('many streamed calls that are never read: together they are bounded by maxStreamBufferBytes', async (t) => {
  const { url, app } = await startApp(t, { maxStreamBufferBytes: 64 * 1024 }, (app) => {
    app.wamp.register('sink', (_a, _k, ctx) => new Promise((resolve) => {
      ctx.signal.addEventListener('abort', () => resolve('stopped'))
    }), { input: 'stream' })
  })
  const { client, sessionId } = await connectRaw(url, { details: STREAMING_HELLO_DETAILS })
  const session = internal(app.wamp.sessions.get(sessionId))
  const chunk = 'x'.repeat(20 * 1024)
  // Three calls of 20 KiB each fit; the fourth passes 64 KiB in all, though each call holds only 20 KiB.
  for (let id = 1; id <= 4; id++) client.send([MSG.CALL, id, { progress: true }, 'sink', [chunk]])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 4, {}, 'fastify_wamp.error.limit_exceeded'])
  t.ok(session.streamBuffered <= 64 * 1024, `the session holds ${session.streamBuffered} bytes`)
  // The refused call's bytes are released: another call fits again once one of the first three ends.
  client.send([MSG.CANCEL, 1, { mode: 'killnowait' }])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.canceled'])
  client.send([MSG.CALL, 5, { progress: true }, 'sink', [chunk]])
  client.send([MSG.CANCEL, 5, { mode: 'killnowait' }])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 5, {}, 'wamp.error.canceled'], 'call 5 was admitted (then canceled)')
  for (const id of [2, 3]) client.send([MSG.CANCEL, id, { mode: 'killnowait' }])
  await client.next()
  await client.next()
  t.equal(session.streamBuffered, 0, 'nothing counted once every call ended')
  await client.close()
})

t.test('property: whatever streams start, send, end or are canceled, the session counts exactly what its calls hold unread, within the bound', async (t) => {
  const MAX = 8 * 1024
  const { url, app } = await startApp(t, { maxStreamBufferBytes: MAX }, (app) => {
    app.wamp.register('sink', (_a, _k, ctx) => new Promise((resolve) => { ctx.signal.addEventListener('abort', () => resolve('stopped')) }), { input: 'stream' })
    app.wamp.register('reader', async (_a, _k, ctx) => {
      let n = 0
      for await (const chunk of ctx.input ?? []) if (chunk !== undefined) n++
      return n
    }, { input: 'stream' })
    app.wamp.register('ping', () => 'pong')
  })
  const { client, sessionId } = await connectRaw(url, { details: STREAMING_HELLO_DETAILS })
  const session = internal(app.wamp.sessions.get(sessionId))
  const op = fc.record({
    kind: fc.constantFrom('chunk', 'chunk', 'chunk', 'final', 'cancel'),
    id: fc.integer({ min: 1, max: 6 }),
    procedure: fc.constantFrom('sink', 'reader'),
    size: fc.integer({ min: 0, max: 3000 })
  })
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
    // A CALL reusing the id of a call whose final chunk came while it still runs is a violation (PROTOCOL §7.4).
    const complete = new Set<number>()
    for (const { kind, id, procedure, size } of ops) {
      if (kind === 'cancel') {
        client.send([MSG.CANCEL, id, { mode: 'killnowait' }])
        complete.delete(id)
      } else if (!complete.has(id)) {
        client.send([MSG.CALL, id, kind === 'final' ? {} : { progress: true }, procedure, ['x'.repeat(size)]])
        if (kind === 'final') complete.add(id)
      }
    }
    // A plain call after them: once it is answered, every message before it has been handled.
    client.send([MSG.CALL, 999, {}, 'ping'])
    while ((await client.next())[1] !== 999);
    let held = 0
    for (const call of session.calls.values()) held += (call as { input?: { buffered: number } }).input?.buffered ?? 0
    const ok = session.streamBuffered === held && held <= MAX
    // End everything still running, so each run starts clean.
    for (let id = 1; id <= 6; id++) client.send([MSG.CANCEL, id, { mode: 'killnowait' }])
    client.send([MSG.CALL, 999, {}, 'ping'])
    while ((await client.next())[1] !== 999);
    return ok && session.streamBuffered === 0
  }), { seed: 4242, numRuns: 60 })
  await client.close()
})
