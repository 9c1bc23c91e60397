import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import { connect, WampError } from '../lib/testing/index.js'
import type { FastifyWampOptions } from '../index.js'
import { rpcCluster } from './helpers/cluster.js'
import { eventually } from './helpers/redis.js'

const failure = (p: Promise<unknown>): Promise<WampError> => p.then(() => { throw new Error('expected a rejection') }, (e: unknown) => e as WampError)

const ROLES: Record<string, string> = { joe: 'user', ann: 'user', boss: 'admin' }
/** Ticket login: any authid listed in ROLES with the ticket "pw". */
const ticketed: FastifyWampOptions = {
  metaApi: true,
  auth: { ticket: { authenticate: (ticket, ctx) => ticket === 'pw' && ctx.authid !== undefined && ROLES[ctx.authid] !== undefined ? { authrole: ROLES[ctx.authid] } : undefined } }
}
const as = (authid: string) => ({ authid, authmethods: ['ticket'], onChallenge: () => 'pw' })

t.test('wamp.session.kill: GOODBYE wamp.close.killed (no message) or the given reason and message; exact wire shapes', async (t) => {
  const { url } = await startApp(t, { metaApi: true })
  const admin = await connectRaw(url)
  const victim = await connectRaw(url)
  admin.client.send([MSG.CALL, 1, {}, 'wamp.session.kill', [victim.sessionId]])
  t.same(await victim.client.next(), [MSG.GOODBYE, {}, 'wamp.close.killed'], 'defaults: reason wamp.close.killed, no message')
  t.same(await admin.client.next(), [MSG.RESULT, 1, {}], 'kill returns nothing')
  victim.client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
  await victim.client.expectClose()

  const other = await connectRaw(url)
  admin.client.send([MSG.CALL, 2, {}, 'wamp.session.kill', [other.sessionId], { reason: 'com.example.maintenance', message: 'back soon' }])
  t.same(await other.client.next(), [MSG.GOODBYE, { message: 'back soon' }, 'com.example.maintenance'])
  t.same(await admin.client.next(), [MSG.RESULT, 2, {}])

  admin.client.send([MSG.CALL, 3, {}, 'wamp.session.kill', [admin.sessionId]])
  t.same((await admin.client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 3, {}, 'wamp.error.no_such_session'], 'not the caller itself (spec)')
  admin.client.send([MSG.CALL, 4, {}, 'wamp.session.kill', [424242]])
  t.same((await admin.client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 4, {}, 'wamp.error.no_such_session'])
  const third = await connectRaw(url)
  admin.client.send([MSG.CALL, 5, {}, 'wamp.session.kill', [third.sessionId], { reason: 'not a uri' }])
  t.same((await admin.client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 5, {}, 'wamp.error.invalid_uri'])
  await third.client.expectNone(50)
  await Promise.all([admin.client.close(), other.client.close(), third.client.close()])
})

t.test('kill_by_authid (ids), kill_by_authrole (count), kill_all (count): the caller is spared', async (t) => {
  const { app } = await startApp(t, ticketed)
  const joe1 = await connect(app, as('joe'))
  const joe2 = await connect(app, { ...as('joe'), serializer: 'msgpack' })
  const ann = await connect(app, as('ann'))
  const boss = await connect(app, as('boss'))

  const killed = (await joe1.call('wamp.session.kill_by_authid', ['joe'], { message: 'dup' })).args[0]
  t.same(killed, [joe2.id], 'the caller has the authid but is excluded; the others are listed')
  t.equal((await joe2.closed).reason, 'wamp.close.killed')
  t.same((await boss.call('wamp.session.kill_by_authrole', ['user'], { reason: 'com.example.kicked' })).args, [2])
  t.equal((await ann.closed).reason, 'com.example.kicked')
  t.equal((await joe1.closed).reason, 'com.example.kicked')
  const late = await connect(app, as('ann'))
  t.same((await boss.call('wamp.session.kill_all')).args, [1], 'everyone but the caller')
  await late.closed
  t.same((await boss.call('wamp.session.kill_all')).args, [0])
  t.equal((await failure(boss.call('wamp.session.kill_all', [], { reason: '' }))).uri, 'wamp.error.invalid_uri')
  t.equal((await failure(boss.call('wamp.session.kill_by_authid', [1]))).uri, 'wamp.error.invalid_argument')
  t.equal(app.wamp.count, 1)
  await boss.close()
})

t.test('the app: realm.killByAuthid / killByAuthrole / killAll, session.kill(reason, message); meta events follow', async (t) => {
  const { app } = await startApp(t, ticketed)
  const watcher = await connect(app, as('boss'))
  await watcher.subscribe('wamp.session.on_leave')
  const joe = await connect(app, as('joe'))
  const ann = await connect(app, as('ann'))
  t.same(await app.wamp.killByAuthid('joe', { message: 'bye joe' }), [joe.id])
  t.same((await watcher.nextEvent('wamp.session.on_leave')).args, [joe.id, 'joe', 'user'])
  t.same(await app.wamp.realm('realm1').killByAuthrole('nobody'), [])
  await t.rejects(app.wamp.killAll({ reason: 'no uri' }), TypeError)
  t.equal(ann.isOpen, true, 'a bad reason kills nobody')
  const all = await app.wamp.killAll({ reason: 'wamp.close.system_shutdown' })
  t.same(all.sort(), [watcher.id, ann.id].sort())
  t.equal((await ann.closed).reason, 'wamp.close.system_shutdown')
  await watcher.closed
  t.same(await app.wamp.killAll(), [], 'nobody left')
})

t.test('autobahn-js sees the kill reason and message', async (t) => {
  const { app, url } = await startApp(t, { metaApi: true })
  const ab = await connectAutobahn(url)
  const admin = await connect(app)
  await admin.call('wamp.session.kill', [ab.session.id], { reason: 'com.example.kicked', message: 'too loud' })
  const { details } = await ab.closed
  t.equal(details.reason, 'com.example.kicked')
  t.equal(details.message, 'too loud')
  await admin.close()
})

t.test('the kill procedures are authorized like any call', async (t) => {
  const { app } = await startApp(t, {
    metaApi: true,
    realms: [{ name: 'realm1', permissions: { anonymous: [{ uri: 'wamp.session.count', allow: ['call'] }] } }]
  })
  const a = await connect(app)
  const b = await connect(app)
  t.equal((await failure(a.call('wamp.session.kill', [b.id]))).uri, 'wamp.error.not_authorized')
  t.equal((await failure(a.call('wamp.session.kill_all'))).uri, 'wamp.error.not_authorized')
  t.equal(b.isOpen, true)
  await Promise.all([a.close(), b.close()])
})

t.test('with Redis (rpc): kill reaches a session on another instance; kill_by_authid and killAll span the cluster', async (t) => {
  const { apps } = await rpcCluster(t, 2, ticketed)
  const [a, b] = apps
  const boss = await connect(a.app, as('boss'))
  const joeHere = await connect(a.app, as('joe'))
  const joeThere = await connect(b.app, as('joe'))
  const annThere = await connect(b.app, as('ann'))
  await eventually(async () => (await a.app.wamp.clusterSessionCount()) === 4, 3000, 'registry lists 4 sessions')
  await eventually(async () => (await a.app.wamp.session(annThere.id)) !== undefined, 3000, 'ann in the registry')

  await boss.call('wamp.session.kill', [annThere.id], { message: 'remote' })
  t.equal((await annThere.closed).reason, 'wamp.close.killed', 'killed on the other instance')
  const ids = (await boss.call('wamp.session.kill_by_authid', ['joe'])).args[0] as number[]
  t.same(ids.sort(), [joeHere.id, joeThere.id].sort())
  await Promise.all([joeHere.closed, joeThere.closed])

  const last = await connect(b.app, as('ann'))
  await eventually(async () => (await a.app.wamp.session(last.id)) !== undefined, 3000, 'ann again in the registry')
  const remote = await a.app.wamp.session(last.id)
  t.ok(remote !== undefined && 'instance' in remote)
  ;(remote as { kill: (reason?: string) => void }).kill('com.example.remote')
  t.equal((await last.closed).reason, 'com.example.remote', 'RemoteSession.kill()')
  await boss.close()
})
