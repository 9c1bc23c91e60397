import t from 'tap'
import { until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { inspector, RedisProcess, startCluster } from './helpers/redis.js'
import type { PublishFailure } from '../index.js'

// Failure is visible, never silent: a private redis-server is killed and started again on the same port.

async function subscribe (client: RawClient, topic: string): Promise<void> {
  client.send([MSG.SUBSCRIBE, 1, {}, topic])
  await client.nextOfType(MSG.SUBSCRIBED)
}

t.test('Redis killed and restarted: outage reported, local delivery continues, subscriptions restored', async (t) => {
  const server = await RedisProcess.start(t)
  const logs: Array<{ level: number, msg: string, lost?: number }> = []
  const stream = { write (line: string) { logs.push(JSON.parse(line)) } }
  const { apps: [a, b], prefix } = await startCluster(t, 2, {}, undefined, server.url,
    (i) => (i === 0 ? { logger: { level: 'info', stream } } : { logger: false }))
  const redis = inspector(t, server.url)
  const seen = { down: 0, up: 0, errors: [] as Error[], failed: [] as PublishFailure[] }
  const fanout = a.app.wamp.fanout
  fanout.on('down', () => { seen.down++ })
  fanout.on('up', () => { seen.up++ })
  fanout.on('error', (err) => { seen.errors.push(err) })
  fanout.on('publish-failed', (failure) => { seen.failed.push(failure) })

  const { client: local } = await connectRaw(a.url)
  const { client: remote } = await connectRaw(b.url)
  await subscribe(local, 'com.t')
  await subscribe(remote, 'com.t')
  const channel = `${prefix}realm1:t:com.t`
  a.app.wamp.publishToAll('com.t', ['before'])
  t.same((await local.next()).slice(4), [['before']])
  t.same((await remote.next()).slice(4), [['before']])

  await server.stop()
  await until(() => fanout.status === 'down' && b.app.wamp.fanout.status === 'down', 3000, 'status down')
  t.equal(seen.down, 1, "'down' emitted once")
  t.equal(logs.filter((l) => l.level === 50 && /fan-out engine down/.test(l.msg)).length, 1, 'the outage is logged once at error level')
  await until(() => seen.errors.length > 0, 3000, 'reconnect errors surfaced')
  // The first error is the connection's, or (when a command was in flight as Redis died) ioredis's "max retries per
  // request" for that command: both say the connection went.
  t.match(String(seen.errors[0].message), /ECONNREFUSED|ECONNRESET|EPIPE|connect|closed|max retries per request/i)
  await t.rejects(a.app.wamp.clusterSessionCount(), /Redis/, 'no made-up cluster figure while down')

  t.equal(a.app.wamp.publishToAll('com.t', ['while down']), 1, 'local subscribers still get it')
  t.same((await local.next()).slice(4), [['while down']])
  t.equal(seen.failed.length, 1, 'the publication that could not leave is reported')
  t.match(seen.failed[0], { realm: 'realm1', topic: 'com.t' })
  t.equal(fanout.stats.publishFailed, 1)

  // A topic first subscribed during the outage must be subscribed in Redis once it is back.
  const { client: late } = await connectRaw(b.url)
  await subscribe(late, 'com.late')

  await server.start()
  await until(() => fanout.status === 'up' && b.app.wamp.fanout.status === 'up', 8000, 'status up again')
  t.equal(seen.up, 1, "'up' emitted once")
  t.match(logs.find((l) => l.level === 40 && /up again/.test(l.msg)), { lost: 1 }, 'recovery is logged with the publications lost')
  // 'up' comes only after every subscription is restored in Redis (issue 17: no polling needed).
  t.same(await redis.pubsub('NUMSUB', channel, `${prefix}realm1:t:com.late`), [channel, 2, `${prefix}realm1:t:com.late`, 1])

  a.app.wamp.publishToAll('com.t', ['after'])
  t.same((await remote.next()).slice(4), [['after']], 'delivery across instances resumed (the outage publication was not replayed)')
  t.same((await local.next()).slice(4), [['after']])
  a.app.wamp.publishToAll('com.late', ['late'])
  t.same((await late.next()).slice(4), [['late']])
  t.equal(fanout.stats.publishFailed, 1)

  await Promise.all([local.close(), remote.close(), late.close()])
})

t.test('issue 17: SUBSCRIBED waits for Redis to confirm the subscription (Redis paused meanwhile)', async (t) => {
  const server = await RedisProcess.start(t)
  t.teardown(() => server.resume())
  const { apps: [a, b], prefix } = await startCluster(t, 2, {}, undefined, server.url)
  const { client } = await connectRaw(b.url)
  t.teardown(() => client.close())
  server.pause()
  client.send([MSG.SUBSCRIBE, 1, {}, 'com.slow'])
  client.send([MSG.SUBSCRIBE, 2, {}, 'com.slow']) // held behind the first, answered in order
  await client.expectNone(300)
  server.resume()
  const subscribed = await client.next(3000)
  t.same(subscribed.slice(0, 2), [MSG.SUBSCRIBED, 1], 'SUBSCRIBED once Redis answered')
  t.same((await client.next()).slice(0, 3), [MSG.SUBSCRIBED, 2, subscribed[2]], 'the message behind it kept its order')
  const redis = inspector(t, server.url)
  t.same(await redis.pubsub('NUMSUB', `${prefix}realm1:t:com.slow`), [`${prefix}realm1:t:com.slow`, 1])
  a.app.wamp.publishToAll('com.slow', ['right after'])
  t.same((await client.next()).slice(4), [['right after']], 'a publication made on another instance right after SUBSCRIBED arrives')
})
