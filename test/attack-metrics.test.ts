import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG, openRaw } from './helpers/raw-client.js'
import { MAX_ERROR_URIS, OTHER_ERRORS } from '../lib/metrics.js'
import { prometheusText } from '../index.js'

// stats().counters.errorsByUri counts ERROR answers by URI — and in router mode the callee chooses the URI. A client
// answering every call with a fresh URI must not grow the map (and the Prometheus exposition) without end.

t.test('router mode: a callee answering each call with a new error URI grows errorsByUri to MAX_ERROR_URIS entries, no further', async (t) => {
  const { app, url } = await startApp(t, { realms: [{ name: 'realm1', router: true }] })
  const callee = (await connectRaw(url)).client
  const caller = (await connectRaw(url)).client
  callee.send([MSG.REGISTER, 1, {}, 'com.p'])
  t.equal((await callee.next())[0], MSG.REGISTERED)
  const calls = MAX_ERROR_URIS + 50
  for (let i = 1; i <= calls; i++) caller.send([MSG.CALL, i, {}, 'com.p'])
  for (let i = 1; i <= calls; i++) {
    const invocation = await callee.nextOfType(MSG.INVOCATION)
    callee.send([MSG.ERROR, MSG.INVOCATION, invocation[1], {}, `com.hostile.error${i}.${'x'.repeat(900)}`])
  }
  const answers: unknown[] = []
  for (let i = 1; i <= calls; i++) answers.push((await caller.next())[0])
  t.ok(answers.every((type) => type === MSG.ERROR), 'the caller got every ERROR')
  const { callErrors, errorsByUri } = app.wamp.stats().counters
  t.equal(callErrors, calls, 'every ERROR is counted')
  t.equal(Object.keys(errorsByUri).length, MAX_ERROR_URIS + 1, 'MAX_ERROR_URIS URIs, and the rest together')
  t.equal(errorsByUri[OTHER_ERRORS], 50)
  t.equal(Object.values(errorsByUri).reduce((a, b) => a + b, 0), calls)
  t.equal(prometheusText(app.wamp.stats()).split('\n').filter((line) => line.startsWith('fastify_wamp_call_errors_total{')).length, MAX_ERROR_URIS + 1)
  await caller.close()
  await callee.close()
})

t.test('authroles named like Object.prototype members are counted as any other in stats() and the Prometheus text', async (t) => {
  // The authrole is the ticket itself: an application that takes it from what the client sent.
  const { app, url } = await startApp(t, { auth: { ticket: { authenticate: (ticket) => ({ authrole: ticket }) } } })
  const roles = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'user']
  const clients = []
  for (const role of roles) {
    const client = await openRaw(url)
    client.send([MSG.HELLO, 'realm1', { roles: { caller: {} }, authmethods: ['ticket'], authid: 'x' }])
    t.equal((await client.next())[0], MSG.CHALLENGE)
    client.send([MSG.AUTHENTICATE, role, {}])
    t.equal((await client.next())[0], MSG.WELCOME, role)
    clients.push(client)
  }
  const byRole = app.wamp.stats().sessionsByRealm.realm1
  for (const role of roles) t.equal(Object.getOwnPropertyDescriptor(byRole, role)?.value, 1, role)
  t.equal(Object.getPrototypeOf(byRole), Object.prototype)
  const lines = prometheusText(app.wamp.stats()).split('\n').filter((line) => line.startsWith('fastify_wamp_sessions{'))
  t.equal(lines.length, roles.length)
  t.ok(lines.every((line) => / 1$/.test(line)), lines.join('\n'))
  for (const client of clients) await client.close()
})
