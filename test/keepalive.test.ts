import t from 'tap'
import { startApp, sleep, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'

function timers (): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
}

t.test('pings every pingInterval and keeps a peer that answers', async (t) => {
  // 300 ms: server and client share this process, and on a loaded machine a pong must not miss a round by scheduling alone.
  const { url, app } = await startApp(t, { pingInterval: 300 })
  const { client } = await connectRaw(url)
  let pings = 0
  client.ws.on('ping', () => { pings++ })
  await until(() => pings >= 4, 10_000, 'four pings')
  t.equal(app.wamp.sessions.size, 1, 'the session is still open')
  client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm'])
  t.same(await client.nextOfType(MSG.GOODBYE), [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await client.close()
})

t.test('terminates a peer that stops answering pings, and cleans up its session', async (t) => {
  const logs: Array<Record<string, unknown>> = []
  let closed = 0
  // 200 ms: on a loaded machine an answering peer's pong must not miss a round by scheduling alone.
  const { url, app } = await startApp(t, { pingInterval: 200 }, (app) => { app.wamp.onSessionClose(() => { closed++ }) }, {
    logger: { level: 'info', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } }
  })
  const mute = await connectRaw(url, { wsOptions: { autoPong: false } })
  const alive = await connectRaw(url)
  mute.client.send([MSG.SUBSCRIBE, 1, {}, 'topic'])
  await mute.client.nextOfType(MSG.SUBSCRIBED)
  t.equal((await mute.client.expectClose(2000)).code, 1006, 'the silent peer was terminated')
  await until(() => !app.wamp.sessions.has(mute.sessionId))
  t.equal(closed, 1, 'its close hook ran')
  t.equal(app.wamp.publishToAll('topic', ['x']), 0, 'its subscription is gone')
  t.ok(app.wamp.sessions.has(alive.sessionId), 'the answering peer stays')
  const line = logs.find((l) => /did not answer the keepalive ping/.test(String(l.msg)))
  t.equal(line?.wampSession, mute.sessionId, 'the reason is logged with the session id')
  await alive.client.close()
})

t.test('uses one timer for all sockets, and none once the last socket is gone', async (t) => {
  const { url, app } = await startApp(t, { pingInterval: 10_000 })
  const before = timers()
  const clients = await Promise.all(Array.from({ length: 20 }, () => connectRaw(url)))
  t.equal(timers(), before + 1, 'one keepalive timer for 20 sockets')
  await Promise.all(clients.map(({ client }) => client.close()))
  await until(() => app.wamp.connections === 0)
  t.equal(timers(), before, 'the timer stops with the last socket')
})

t.test('pingInterval 0 sends no pings', async (t) => {
  const { url } = await startApp(t, { pingInterval: 0 })
  const before = timers()
  const { client } = await connectRaw(url)
  let pings = 0
  client.ws.on('ping', () => { pings++ })
  t.equal(timers(), before)
  await sleep(100)
  t.equal(pings, 0)
  await client.close()
})
