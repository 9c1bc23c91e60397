import t from 'tap'
import type { Socket } from 'node:net'
import { startApp, until, internal } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

const KiB = 1024

function tcp (client: RawClient): Socket {
  return (client.ws as unknown as { _socket: Socket })._socket
}

function events (client: RawClient): number {
  return client.history.filter((m) => m[0] === MSG.EVENT).length
}

for (const protocol of ['wamp.2.json', 'wamp.2.msgpack']) {
  t.test(`terminates a subscriber that stops reading during a fan-out while another keeps receiving every event (${protocol})`, async (t) => {
    const logs: Array<Record<string, unknown>> = []
    const maxBufferedBytes = 256 * KiB
    const { url, app } = await startApp(t, { maxPayload: 64 * KiB, maxBufferedBytes }, undefined, {
      logger: { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } }
    })
    const slow = await connectRaw(url, { protocols: [protocol] })
    const fast = await connectRaw(url, { protocols: [protocol] })
    for (const { client } of [slow, fast]) {
      client.send([MSG.SUBSCRIBE, 1, {}, 'feed'])
      await client.nextOfType(MSG.SUBSCRIBED)
    }
    const slowSession = app.wamp.sessions.get(slow.sessionId)
    t.ok(slowSession)
    tcp(slow.client).pause() // the slow client stops reading; its kernel buffers fill, then the server's

    const payload = 'e'.repeat(32 * KiB)
    let published = 0
    let batchesWhileSlowConnected = 0
    let maxBuffered = 0
    while (app.wamp.sessions.has(slow.sessionId) && published < 20_000) {
      for (let i = 0; i < 4; i++) app.wamp.publishToAll('feed', [published++, payload])
      maxBuffered = Math.max(maxBuffered, internal(slowSession!).transport.buffered)
      // The normal subscriber has every event of the batch before the next batch is published.
      await until(() => events(fast.client) === published, 5000, `the fast client to receive ${published} events`)
      if (app.wamp.sessions.has(slow.sessionId)) batchesWhileSlowConnected++
    }
    t.notOk(app.wamp.sessions.has(slow.sessionId), 'the non-reading session was closed')
    t.ok(batchesWhileSlowConnected > 0, `the fast client received ${batchesWhileSlowConnected} batches in full while the slow one was still connected`)
    t.ok(maxBuffered <= maxBufferedBytes, `the slow socket's outbound buffer stayed within the bound (max seen ${maxBuffered} B)`)
    const reason = logs.find((l) => /does not read/.test(String(l.msg)))
    t.ok(reason, 'the reason is logged')
    t.equal(reason?.maxBufferedBytes, maxBufferedBytes)
    t.equal(reason?.wampSession, slow.sessionId)

    for (let i = 0; i < 4; i++) app.wamp.publishToAll('feed', [published++, payload])
    await until(() => events(fast.client) === published, 5000, 'the fast client to receive the events published after')
    const numbers = fast.client.history.filter((m) => m[0] === MSG.EVENT).map((m) => (m[4] as unknown[])[0])
    t.same(numbers, Array.from({ length: published }, (_, i) => i), 'every event, in order, nothing lost')

    tcp(slow.client).resume()
    t.equal((await slow.client.expectClose(5000)).code, 1006, 'the slow socket was terminated, not closed politely')
    await fast.client.close()
  })
}

t.test('a burst within maxBufferedBytes to a reading client is delivered whole', async (t) => {
  const { url, app } = await startApp(t, { maxPayload: 64 * KiB, maxBufferedBytes: 1024 * KiB })
  const { client } = await connectRaw(url)
  client.send([MSG.SUBSCRIBE, 1, {}, 'feed'])
  await client.nextOfType(MSG.SUBSCRIBED)
  for (let i = 0; i < 24; i++) app.wamp.publishToAll('feed', [i, 'b'.repeat(32 * KiB)]) // ~770 KiB in one tick
  await until(() => events(client) === 24)
  t.equal(app.wamp.sessions.size, 1)
  await client.close()
})
