import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'

const PROCS = ['wamp.session.get', 'wamp.session.count', 'wamp.session.list', 'wamp.session.kill', 'wamp.session.kill_by_authid', 'wamp.session.kill_by_authrole', 'wamp.session.kill_all',
  'wamp.registration.list', 'wamp.registration.lookup', 'wamp.registration.match', 'wamp.registration.get', 'wamp.registration.list_callees', 'wamp.registration.count_callees',
  'wamp.registration.remove', 'wamp.registration.remove_callee', 'wamp.subscription.remove', 'wamp.subscription.remove_subscriber',
  'wamp.subscription.list', 'wamp.subscription.lookup', 'wamp.subscription.match', 'wamp.subscription.get', 'wamp.subscription.list_subscribers', 'wamp.subscription.count_subscribers',
  'wamp.subscription.get_events', 'wamp.session.add_testament', 'wamp.session.flush_testaments',
  'wamp.reflection.procedure.list', 'wamp.reflection.procedure.describe', 'wamp.reflection.topic.list', 'wamp.reflection.topic.describe', 'wamp.reflection.error.list', 'wamp.reflection.error.describe']
const ARGS: unknown[][] = [[], [null], [-1], [0], [1.5], [2 ** 60], ['x'], [{}], [[]], [true], ['', {}], [1, 2, 3, 4, 5], ['com.x', { match: 'bogus' }], ['com.x', 'wildcard'], [1, -5], [1, 1e300], ['x'.repeat(5000)]]
const KW: Array<Record<string, unknown> | undefined> = [undefined, { reason: 5 }, { reason: 'not a uri' }, { limit: -1 }, { limit: 1e20 }, { scope: 'bogus' }, { publish_options: 'x' }, { publish_options: { retain: 'x', exclude: ['a'] } }, { reverse: 'yes' }, { from_time: 'garbage' }, { message: {} }, { __proto__: { a: 1 } }]

t.test('probe', async (t) => {
  const { url } = await startApp(t, { metaApi: true, reflection: true, realms: [{ name: 'realm1', broker: true, history: [{ topic: 'com.', match: 'prefix' }] }] } as never)
  const victim = await connectRaw(url)
  victim.client.send([MSG.SUBSCRIBE, 1, {}, 'com.x'])
  await victim.client.next()
  const { client } = await connectRaw(url)
  let id = 1
  const seen = new Map<string, number>()
  for (const proc of PROCS) {
    for (const args of ARGS) {
      for (const kw of KW) {
        if (proc.includes('kill')) continue
        const msg: unknown[] = [MSG.CALL, id, {}, proc, args]
        if (kw !== undefined) msg.push(kw)
        client.send(msg)
        const reply = await client.next()
        if (reply[0] !== MSG.RESULT && reply[0] !== MSG.ERROR) { t.fail(`${proc} ${JSON.stringify(args)} ${JSON.stringify(kw)} → ${JSON.stringify(reply)}`); return }
        const key = `${proc} → ${reply[0] === MSG.ERROR ? String(reply[4]) : 'RESULT'}`
        if (reply[0] === MSG.ERROR && reply[4] === 'wamp.error.runtime_error') t.comment(`${proc} ${JSON.stringify(args).slice(0, 60)} ${JSON.stringify(kw)} → ${JSON.stringify(reply).slice(0, 300)}`)
        seen.set(key, (seen.get(key) ?? 0) + 1)
        id++
      }
    }
  }
  for (const [k, v] of seen) t.comment(`${k} ${v}`)
  await client.close(); await victim.client.close()
})
