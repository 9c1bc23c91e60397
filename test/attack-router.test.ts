import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'

// A hostile callee in router mode: what it answers reaches other clients, so it must be well-formed WAMP.

const BAD_URIS = ['not a uri', '', 'a..b', 'com.x.', '#', 'x\ty']

t.test('a callee ERROR whose error URI is not a URI: the callee is ABORTed (protocol_violation), the caller gets one ERROR canceled', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', router: true }] })
  for (const uri of BAD_URIS) {
    const callee = (await connectRaw(url)).client
    const caller = (await connectRaw(url)).client
    callee.send([MSG.REGISTER, 1, {}, 'com.p'])
    t.equal((await callee.next())[0], MSG.REGISTERED)
    caller.send([MSG.CALL, 5, {}, 'com.p'])
    const invocation = await callee.next()
    t.equal(invocation[0], MSG.INVOCATION)
    callee.send([MSG.ERROR, MSG.INVOCATION, invocation[1], {}, uri, ['x']])
    t.match(await callee.next(), [MSG.ABORT, { message: 'ERROR.Error must be a valid URI' }, 'wamp.error.protocol_violation'], JSON.stringify(uri))
    t.match(await caller.next(), [MSG.ERROR, MSG.CALL, 5, {}, 'wamp.error.canceled'], 'the caller never sees the malformed URI')
    caller.send([MSG.CALL, 6, {}, 'com.p'])
    t.match(await caller.next(), [MSG.ERROR, MSG.CALL, 6, {}, 'wamp.error.no_such_procedure'], 'exactly one terminal message for request 5')
    await caller.close()
  }
})

t.test('the app calling a client: an ERROR with a malformed URI ends the callee, session.call() rejects with canceled', async (t) => {
  const { app, url } = await startApp(t)
  const callee = (await connectRaw(url)).client
  callee.send([MSG.REGISTER, 1, {}, 'com.p'])
  t.equal((await callee.next())[0], MSG.REGISTERED)
  const result = app.wamp.call('com.p').then(() => 'resolved', (err: { uri?: string }) => err.uri)
  const invocation = await callee.next()
  callee.send([MSG.ERROR, MSG.INVOCATION, invocation[1], {}, 'bad uri'])
  t.match(await callee.next(), [MSG.ABORT, {}, 'wamp.error.protocol_violation'])
  t.equal(await result, 'wamp.error.canceled')
})
