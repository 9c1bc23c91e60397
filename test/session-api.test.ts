import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RegistrationInfo, SubscriptionInfo, WampSession } from '../index.js'

// issue 19: what the application may ask a session and hear about it, without reaching into internals.

t.test('issue 19: onSessionOpen waits for a client procedure with session.registered(), then calls it', async (t) => {
  const answers: unknown[] = []
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.onSessionOpen(async (session) => {
      t.notOk(session.hasRegistration('client.hello'), 'nothing is registered at WELCOME')
      const registration = await session.registered('client.hello', { timeout: 2000 })
      t.equal(registration.uri, 'client.hello')
      t.ok(session.hasRegistration('client.hello'))
      answers.push((await session.call('client.hello', ['server'])).args)
    })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.REGISTER, 1, {}, 'client.hello'])
  t.equal((await client.next())[0], MSG.REGISTERED)
  const invocation = await client.nextOfType(MSG.INVOCATION)
  t.same(invocation[4], ['server'])
  client.send([MSG.YIELD, invocation[1], {}, ['hi']])
  await client.expectNone(50)
  t.same(answers, [['hi']])
  await client.close()
})

t.test('issue 19: registered() rejects on timeout, on abort and when the session ends; resolves at once if registered', async (t) => {
  let session: WampSession | undefined
  const { url } = await startApp(t, {}, (app) => { app.wamp.onSessionOpen((s) => { session = s }) })
  const { client } = await connectRaw(url)
  const s = session as WampSession
  t.match(await s.registered('x.y', { timeout: 20 }).catch((e: unknown) => e), { uri: 'wamp.error.timeout' })
  const controller = new AbortController()
  const aborted = s.registered('x.y', { signal: controller.signal })
  controller.abort()
  t.match(await aborted.catch((e: unknown) => e), { uri: 'wamp.error.canceled' })
  client.send([MSG.REGISTER, 1, {}, 'x.y'])
  await client.next()
  t.equal((await s.registered('x.y')).uri, 'x.y', 'already registered: at once')
  const never = s.registered('x.z').catch((e: unknown) => e)
  await client.close()
  t.match(await never, { uri: 'wamp.error.canceled' }, 'the session ended')
})

t.test('issue 19: onRegister/onUnregister/onSubscribe/onUnsubscribe hooks and hasSubscription', async (t) => {
  const seen: string[] = []
  let session: WampSession | undefined
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.onSessionOpen((s) => { session = s })
    app.wamp.onRegister((_s, r: RegistrationInfo) => { seen.push(`register ${r.uri}`) })
    app.wamp.onUnregister((_s, r: RegistrationInfo) => { seen.push(`unregister ${r.uri}`) })
    app.wamp.onSubscribe((_s, sub: SubscriptionInfo) => { seen.push(`subscribe ${sub.topic} ${sub.match}`) })
    app.wamp.onUnsubscribe((_s, sub: SubscriptionInfo) => { seen.push(`unsubscribe ${sub.topic}`) })
  })
  const { client } = await connectRaw(url)
  client.send([MSG.REGISTER, 1, {}, 'a.proc'])
  const registrationId = (await client.next())[2]
  client.send([MSG.SUBSCRIBE, 2, { match: 'prefix' }, 'a.'])
  const subscriptionId = (await client.next())[2]
  t.ok(session?.hasSubscription('a.', 'prefix'))
  t.notOk(session?.hasSubscription('a.'), 'exact is another subscription')
  client.send([MSG.UNREGISTER, 3, registrationId])
  await client.next()
  client.send([MSG.UNSUBSCRIBE, 4, subscriptionId])
  await client.next()
  client.send([MSG.SUBSCRIBE, 5, {}, 'b'])
  await client.next()
  await client.close()
  t.same(seen, ['register a.proc', 'subscribe a. prefix', 'unregister a.proc', 'unsubscribe a.', 'subscribe b exact', 'unsubscribe b'])
})

t.test('issue 19: session.kill() ends the session at once with GOODBYE wamp.close.killed; connectedAt is set', async (t) => {
  let session: WampSession | undefined
  const { url, app } = await startApp(t, {}, (app) => { app.wamp.onSessionOpen((s) => { session = s }) })
  const before = Date.now()
  const { client } = await connectRaw(url)
  const s = session as WampSession
  t.ok(s.connectedAt.getTime() >= before - 1000 && s.connectedAt.getTime() <= Date.now())
  s.kill(undefined, 'bye')
  const goodbye = await client.next()
  t.same(goodbye, [MSG.GOODBYE, { message: 'bye' }, 'wamp.close.killed'])
  t.equal(app.wamp.sessions.size, 0)
  await client.close()
})
