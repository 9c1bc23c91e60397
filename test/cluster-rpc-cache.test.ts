import t from 'tap'
import { connectAutobahn } from './helpers/clients.js'
import { commandsDuring, eventually, inspector, REDIS_URL } from './helpers/redis.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'
import { MAX_BATCH } from '../lib/cluster/rpc-outbox.js'

// Cluster-wide RPC in the steady state: the registry is cached on the caller's instance (no registry read per call)
// and every registry change is announced, so the cache never answers with a callee that left or misses one that came.

t.test('at most 2 Redis commands per cross-instance call in the steady state: the two PUBLISHes, one per tick when concurrent', async (t) => {
  // Slow heartbeats and probes, so that nothing but the calls talks to Redis while they are counted.
  const { apps, prefix } = await rpcCluster(t, 2, {}, undefined, REDIS_URL, { heartbeat: 60_000, probeInterval: 60_000 })
  const [a, b] = apps
  const redis = inspector(t)
  const callee = await connectAutobahn(b.url)
  t.teardown(() => callee.close())
  await callee.session.register('c.echo', (args: unknown[]) => args[0])
  await untilRegistered(redis, prefix, 'c.echo', 1)
  t.same((await a.app.wamp.call('c.echo', [0])).args, [0], 'the first call reads the registry')

  const N = 100
  const sequential: unknown[] = []
  let concurrent: unknown[] = []
  const calls = await commandsDuring(t, redis, prefix, async () => {
    for (let i = 0; i < 20; i++) sequential.push((await a.app.wamp.call('c.echo', [i])).args[0])
    concurrent = await Promise.all(Array.from({ length: N - 20 }, async (_, i) => (await a.app.wamp.call('c.echo', [i])).args[0]))
  })
  t.same(sequential, Array.from({ length: 20 }, (_, i) => i))
  t.same(concurrent, Array.from({ length: N - 20 }, (_, i) => i), 'every call answered')

  // The instance's session count (SET instance:<id> + SADD instances, written shortly after a session comes or goes)
  // is not a per-call command; it may land in the window, the test's own sessions having just connected.
  const perCall = calls.filter((c) => !(c[1] === `${prefix}instances` || c[1].startsWith(`${prefix}instance:`)))
  const byName: Record<string, number> = {}
  for (const c of perCall) byName[c[0].toLowerCase()] = (byName[c[0].toLowerCase()] ?? 0) + 1
  // A registry read in the window means the cache was dropped once (a late change announcement, or a health PING
  // that timed out on a loaded machine and took the connection 'down'): tolerated once, never per call.
  const reads = byName.hgetall ?? 0
  t.same(Object.keys(byName).filter((name) => name !== 'hgetall'), ['publish'], 'nothing but PUBLISHes (and at most one registry read)')
  t.ok(reads <= 1, `${reads} registry reads for ${N} calls`)
  // Per channel: the requests to B's instance, the answers to A's. 20 sequential calls: one PUBLISH each way each;
  // the 80 made in one tick leave in batches of MAX_BATCH (3 PUBLISHes), and their answers in as many as the ticks
  // in which the callee's YIELDs arrived, batched likewise. (A call delayed by a registry read leaves in a PUBLISH
  // of its own: one more.)
  const batches = 20 + Math.ceil((N - 20) / MAX_BATCH)
  const byChannel: Record<string, number> = {}
  for (const c of perCall) if (c[0].toLowerCase() === 'publish') byChannel[c[1]] = (byChannel[c[1]] ?? 0) + 1
  const channels = Object.keys(byChannel)
  t.ok(channels.length === 2 && channels.every((c) => c.startsWith(`${prefix}rpc:`)), 'only the two instances\' RPC channels')
  const [requests, answers] = Object.values(byChannel).sort((x, y) => x - y)
  t.ok(requests >= batches && requests <= batches + reads, `requests: ${requests} PUBLISHes, one per sequential call, ${batches - 20} for the 80 concurrent ones`)
  t.ok(answers >= batches && answers <= N, `answers: ${answers} PUBLISHes for ${N} answers`)
  t.ok(perCall.length <= 2 * N, `${perCall.length} commands for ${N} calls`)
})

t.test('the cached registry follows every change: a callee that leaves, one that comes, the oldest that goes', async (t) => {
  const { apps, prefix } = await rpcCluster(t, 3)
  const [a, b, c] = apps
  const redis = inspector(t)
  const call = async (): Promise<unknown> => {
    try {
      return (await a.app.wamp.call('c.who')).args[0]
    } catch (err) {
      return (err as { uri: string }).uri
    }
  }

  // A miss is cached too: a registration made afterwards is still found.
  t.equal(await call(), 'wamp.error.no_such_procedure', 'nobody yet')
  const onB = await connectAutobahn(b.url)
  t.teardown(() => onB.close())
  const regB = await onB.session.register('c.who', () => 'b')
  await untilRegistered(redis, prefix, 'c.who', 1)
  await eventually(async () => (await call()) === 'b', 3000, 'the new callee on B is found')
  t.equal(await call(), 'b', 'cached now')

  // The callee unregisters: never `canceled` (a call to the registration that left) once the change is announced.
  await onB.session.unregister(regB)
  await untilRegistered(redis, prefix, 'c.who', 0)
  await eventually(async () => (await call()) === 'wamp.error.no_such_procedure', 3000, 'the cache forgot the callee that left')

  // Two callees, on C then on B: the oldest (C's) answers; when its session closes, B's does.
  const onC = await connectAutobahn(c.url)
  t.teardown(() => onC.close())
  await onC.session.register('c.who', () => 'c')
  await untilRegistered(redis, prefix, 'c.who', 1)
  await eventually(async () => (await call()) === 'c', 3000, 'C found')
  await onB.session.register('c.who', () => 'b again')
  await untilRegistered(redis, prefix, 'c.who', 2)
  t.equal(await call(), 'c', 'the oldest registration still answers')
  await onC.close()
  await untilRegistered(redis, prefix, 'c.who', 1)
  await eventually(async () => (await call()) === 'b again', 3000, 'the cache followed the session that closed')
  t.equal(await call(), 'b again')
})
