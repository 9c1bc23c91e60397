import t from 'tap'
import type { WampSession } from '../index.js'
import { startApp, until } from './helpers/app.js'
import { connectRaw, messagesBeforeMarker, MSG } from './helpers/raw-client.js'

// GOODBYE's reason is a URI (spec: [GOODBYE, Details|dict, Reason|uri]), as ERROR's is: one that is not is a malformed
// message, answered ABORT protocol_violation rather than goodbye_and_out.

for (const reason of ['not a uri', '', 'a..b', 'wamp.close.', '#']) {
  t.test(`GOODBYE with the reason ${JSON.stringify(reason)} → ABORT protocol_violation`, async (t) => {
    const { app, url } = await startApp(t)
    const { client } = await connectRaw(url)
    client.send([MSG.GOODBYE, {}, reason])
    t.match(await client.next(), [MSG.ABORT, { message: 'GOODBYE.Reason must be a valid URI' }, 'wamp.error.protocol_violation'])
    await client.closed
    await until(() => app.wamp.sessions.size === 0, 2000, 'the session to end')
  })
}

t.test('GOODBYE with a URI reason, any URI, is answered goodbye_and_out', async (t) => {
  const { url } = await startApp(t)
  const { client } = await connectRaw(url)
  client.send([MSG.GOODBYE, { message: 'bye' }, 'com.myapp.leaving'])
  t.match(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await client.close()
})

// After the client's GOODBYE the socket may carry a new WAMP session (PROTOCOL §7.8), perhaps another principal's. A
// handle the application still holds on the old one (a handler that awaited, a session kept in a Map) must act on
// nothing of the new one: no EVENT, no INVOCATION, no kill, and it keeps the old identity.
t.test('after GOODBYE and a new HELLO, the old session\'s handle reaches nothing of the new session', async (t) => {
  let release = (): void => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  let held: WampSession | undefined
  let outcome: Promise<unknown> | undefined
  const { app, url } = await startApp(t, {}, (app) => {
    app.wamp.register('com.slow', async (_a, _k, ctx) => {
      held = ctx.session
      await gate
      outcome = ctx.session.call('com.client.secret', ['for the first session']).then(() => 'resolved', (err: { uri?: string }) => err.uri)
      return ctx.session.publish('com.private', ['for the first session'])
    })
  })
  const { client, sessionId } = await connectRaw(url, { details: { roles: { caller: {}, callee: {}, subscriber: {} } } })
  client.send([MSG.CALL, 1, {}, 'com.slow'])
  await until(() => held !== undefined)
  client.send([MSG.GOODBYE, {}, 'wamp.close.close_realm'])
  t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  const welcome = await client.hello('realm1', { roles: { caller: {}, callee: {}, subscriber: {} } })
  t.equal(welcome[0], MSG.WELCOME)
  client.send([MSG.SUBSCRIBE, 2, {}, 'com.private'])
  const subscription = (await client.next())[2]
  client.send([MSG.REGISTER, 3, {}, 'com.client.secret'])
  t.equal((await client.next())[0], MSG.REGISTERED)
  const old = held as WampSession
  t.equal(old.id, sessionId, 'the old handle keeps its id')
  t.equal(old.isOpen, false, 'the old handle is closed')
  t.not(app.wamp.sessions.get(welcome[1] as number), old, 'the new session is another object')
  release()
  await until(() => outcome !== undefined)
  t.equal(await outcome, 'wamp.error.canceled', 'a call through the old handle is refused')
  old.kill()
  t.equal(old.publish('com.private', ['kept']), 0, 'a publish through the old handle reaches nobody')
  const before = await messagesBeforeMarker(client, () => { app.wamp.publishToAll('com.private', ['marker']) })
  t.same(before, [], 'no EVENT, INVOCATION, RESULT or GOODBYE for the old session reached the new one')
  client.send([MSG.CALL, 4, {}, 'com.slow'])
  await until(() => held !== old)
  t.equal(held?.id, welcome[1], 'the new session still answers after the old handle\'s kill()')
  t.not(subscription, undefined)
  await client.close()
})

t.test('GOODBYE, HELLO and a CALL in one batch: the messages after GOODBYE are the new session\'s', async (t) => {
  const { app, url } = await startApp(t, {}, (app) => { app.wamp.register('com.who', (_a, _k, ctx) => ctx.session.id) })
  const { client, sessionId } = await connectRaw(url, { protocols: ['wamp.2.json.batched'] })
  client.sendBatch([[MSG.GOODBYE, {}, 'wamp.close.close_realm'], [MSG.HELLO, 'realm1', { roles: { caller: {} } }], [MSG.CALL, 1, {}, 'com.who']])
  t.same(await client.next(), [MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  const welcome = await client.next()
  t.equal(welcome[0], MSG.WELCOME)
  t.not(welcome[1], sessionId)
  t.same(await client.next(), [MSG.RESULT, 1, {}, [welcome[1]]], 'the CALL ran in the new session')
  t.equal(app.wamp.connections, 1)
  await client.close()
  await until(() => app.wamp.connections === 0)
})
