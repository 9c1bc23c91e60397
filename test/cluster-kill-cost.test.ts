import t from 'tap'
import { connect } from '../lib/testing/index.js'
import type { FastifyWampOptions, RedisFanout } from '../index.js'
import { commandsDuring, eventually, inspector, REDIS_URL } from './helpers/redis.js'
import { rpcCluster } from './helpers/cluster.js'

// kill_by_authid, kill_by_authrole and kill_all across instances read, from the cluster registry, the sessions they
// kill (one set: the realm's, the authid's or the authrole's) — not the list of every session of the cluster.

const roleOf = (authid: string): string => authid === 'boss' ? 'admin' : authid.startsWith('guest') ? 'guest' : 'user'
const options: FastifyWampOptions = {
  metaApi: true,
  auth: { ticket: { authenticate: (ticket, ctx) => ticket === 'pw' && ctx.authid !== undefined ? { authrole: roleOf(ctx.authid) } : undefined } }
}
const as = (authid: string) => ({ authid, authmethods: ['ticket'], onChallenge: () => 'pw' })
const READS = new Set(['hgetall', 'hget', 'hkeys', 'hvals', 'hscan', 'smembers', 'sscan', 'scan', 'keys', 'mget', 'get'])

t.test('kill_by_authid / kill_by_authrole / kill_all across instances read one set, the size of what they kill; same answers', async (t) => {
  const { apps, prefix } = await rpcCluster(t, 2, options, undefined, REDIS_URL, { heartbeat: 60_000, probeInterval: 60_000 })
  const [a, b] = apps
  const redis = inspector(t)
  const set = (kind: string, ...key: string[]): string => `${prefix}rpc:${kind}:${kind === 'realm' ? key[0] : JSON.stringify(key)}`

  const boss = await connect(a.app, as('boss'))
  const joeHere = await connect(a.app, as('joe'))
  const joeThere = await connect(b.app, as('joe'))
  const annThere = await connect(b.app, as('ann'))
  const guests = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(b.app, as(`guest${i}`))))
  await eventually(async () => (await a.app.wamp.clusterSessionCount()) === 24, 3000, '24 sessions')
  for (const s of [joeThere, annThere, ...guests]) await eventually(async () => (await a.app.wamp.session(s.id)) !== undefined, 3000, 'listed')

  /** The registry reads while `run` runs (what the kill reads; the closing sessions' own writes are not reads). */
  const readsDuring = async (run: () => Promise<unknown>): Promise<string[][]> =>
    (await commandsDuring(t, redis, prefix, run)).filter((c) => READS.has(c[0].toLowerCase()) && !c[1].startsWith(`${prefix}fence:`))

  let ids: number[] = []
  let reads = await readsDuring(async () => { ids = (await boss.call('wamp.session.kill_by_authid', ['joe'])).args[0] as number[] })
  t.same(ids.sort(), [joeHere.id, joeThere.id].sort(), 'both joes, here and there')
  t.same(reads, [['smembers', set('authid', 'realm1', 'joe')]], 'one read: the authid\'s set')
  await Promise.all([joeHere.closed, joeThere.closed])

  let count = 0
  reads = await readsDuring(async () => { count = (await boss.call('wamp.session.kill_by_authrole', ['guest'])).args[0] as number })
  t.equal(count, 20, 'the 20 guests')
  t.same(reads, [['smembers', set('authrole', 'realm1', 'guest')]], 'one read: the authrole\'s set')
  await Promise.all(guests.map((g) => g.closed))

  reads = await readsDuring(async () => { count = (await boss.call('wamp.session.kill_all')).args[0] as number })
  t.equal(count, 1, 'ann, the caller spared')
  t.same(reads, [['smembers', set('realm', 'realm1')]], 'one read: the realm\'s set')
  t.equal((await annThere.closed).reason, 'wamp.close.killed')

  // What a closed session listed goes with it; what an instance that leaves listed goes with it too.
  await eventually(async () => (await redis.smembers(set('realm', 'realm1'))).length === 1, 3000, 'only the boss is left listed')
  t.equal(await redis.exists(set('authid', 'realm1', 'joe'), set('authrole', 'realm1', 'guest'), set('authrole', 'realm1', 'user')), 0, 'the emptied sets are gone')
  const late = await connect(b.app, as('late'))
  await eventually(async () => (await redis.scard(set('authid', 'realm1', 'late'))) === 1, 3000, 'late listed')
  await b.app.close()
  await late.closed
  t.equal(await redis.exists(set('authid', 'realm1', 'late')), 0, 'B left: its session\'s entries went with it')
  t.same(await redis.smembers(set('realm', 'realm1')), [`${(a.app.wamp.fanout as RedisFanout).instanceId}:${boss.id}`])
  await boss.close()
})
