import t from 'tap'
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
