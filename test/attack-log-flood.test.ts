import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { PEER_LOG_BURST, PEER_LOG_RATE } from '../lib/session/peer-log.js'

// Log lines a client can cause at will are bounded per session (lib/session/peer-log.ts): a burst, then a rate; what
// was held back is counted on the next line that goes out. Every request still gets its answer.

const FLOOD = 1000

t.test('a client refused 1,000 times in a row logs a burst, not 1,000 lines, and the count of the rest', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } }
  const { url } = await startApp(t, { permissions: { anonymous: [{ uri: 'com.open', allow: ['call', 'publish'] }] } },
    (app) => { app.wamp.register('com.secret', () => 1) }, { logger: { level: 'info', stream } })
  const { client, sessionId } = await connectRaw(url)
  const denied = (): Array<Record<string, unknown>> => lines.filter((l) => l.msg === 'fastify-wamp: not authorized' && l.wampSession === sessionId)

  const started = Date.now()
  for (let i = 1; i <= FLOOD; i++) client.send([MSG.CALL, i, {}, 'com.secret'])
  let refused = 0
  for (let i = 1; i <= FLOOD; i++) if ((await client.nextOfType(MSG.ERROR))[4] === 'wamp.error.not_authorized') refused++
  t.equal(refused, FLOOD, 'every CALL is answered not_authorized')
  const seconds = (Date.now() - started) / 1000
  const logged = denied().length
  t.ok(logged >= PEER_LOG_BURST, `the burst is logged (${logged} lines)`)
  t.ok(logged <= PEER_LOG_BURST + Math.ceil(seconds * PEER_LOG_RATE) + 1, `at most the burst and the rate: ${logged} lines in ${seconds.toFixed(2)} s`)

  // One token comes back every 1/PEER_LOG_RATE s: the next refusal is logged with the count of the lines held back.
  await new Promise((resolve) => setTimeout(resolve, 1000 / PEER_LOG_RATE + 50))
  client.send([MSG.CALL, FLOOD + 1, {}, 'com.secret'])
  t.equal((await client.nextOfType(MSG.ERROR))[4], 'wamp.error.not_authorized')
  const all = denied()
  const suppressed = all.reduce((sum, l) => sum + (typeof l.suppressed === 'number' ? l.suppressed : 0), 0)
  t.equal(all.length + suppressed, FLOOD + 1, 'every refusal is either logged or counted')
  t.ok(typeof all[all.length - 1].suppressed === 'number', 'the last line carries the count')

  // The budget is the session's: another client is logged from its first refusal.
  const other = await connectRaw(url)
  other.client.send([MSG.CALL, 1, {}, 'com.secret'])
  await other.client.nextOfType(MSG.ERROR)
  t.ok(lines.some((l) => l.msg === 'fastify-wamp: not authorized' && l.wampSession === other.sessionId), 'another session logs')
  await client.close()
  await other.client.close()
})

t.test('refused publications without acknowledge (no answer to wait for) are logged within the same budget', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } }
  const { url } = await startApp(t, { permissions: { anonymous: [{ uri: 'com.open', allow: ['call'] }] } },
    (app) => { app.wamp.register('com.open', () => 1) }, { logger: { level: 'info', stream } })
  const { client, sessionId } = await connectRaw(url)
  const started = Date.now()
  for (let i = 1; i <= FLOOD; i++) client.send([MSG.PUBLISH, i, {}, 'com.secret'])
  client.send([MSG.CALL, FLOOD + 1, {}, 'com.open'])
  t.same((await client.nextOfType(MSG.RESULT)).slice(0, 2), [MSG.RESULT, FLOOD + 1], 'the session goes on')
  const seconds = (Date.now() - started) / 1000
  const logged = lines.filter((l) => l.msg === 'fastify-wamp: not authorized' && l.action === 'publish' && l.wampSession === sessionId).length
  t.ok(logged >= PEER_LOG_BURST && logged <= PEER_LOG_BURST + Math.ceil(seconds * PEER_LOG_RATE) + 1,
    `${logged} lines for ${FLOOD} refused publications in ${seconds.toFixed(2)} s`)
  await client.close()
})
