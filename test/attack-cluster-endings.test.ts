import t from 'tap'
import type { Redis } from 'ioredis'
import { sleep, until } from './helpers/app.js'
import type { TestApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { inspector, REDIS_URL, RedisProcess } from './helpers/redis.js'
import type { RedisFanout } from '../index.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'

// PROTOCOL §7.5 across instances, under faults the other cluster tests do not make: one instance's own Redis
// connection cut (CLIENT KILL) while the rest of the cluster stays up.

t.setTimeout(120_000)

type Dict = Record<string, unknown>
interface Teardown { teardown (fn: () => unknown): void }
const CALLEE = { roles: { caller: { features: {} }, callee: { features: { call_canceling: true, progressive_call_results: true } } } }
const ROUTER = { realms: [{ name: 'realm1', router: true }] }

function terminalOf (msg: unknown[]): number | undefined {
  if (msg[0] === MSG.ERROR && msg[1] === MSG.CALL) return msg[2] as number
  if (msg[0] === MSG.RESULT && (msg[2] as Dict).progress !== true) return msg[1] as number
  return undefined
}

/** `promise`'s outcome, or 'still pending' after `ms`. */
function within (promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise((resolve) => { timer = setTimeout(resolve, ms, 'still pending') })
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer))
}

/** Cuts one of an instance's Redis connections from the server side, as a network fault or a Redis-side kill would. */
async function cut (redis: Redis, app: TestApp, which: 'sub' | 'pub'): Promise<void> {
  const connection = (app.app.wamp.fanout as unknown as Record<string, { stream: { localPort: number } }>)[which]
  await redis.client('KILL', 'ADDR', `127.0.0.1:${connection.stream.localPort}`)
}

async function servedCall (t: Teardown, url = REDIS_URL): Promise<{ a: TestApp, b: TestApp, redis: Redis, prefix: string, callee: RawClient, caller: RawClient }> {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, ROUTER, undefined, url)
  const redis = inspector(t, url)
  const { client: callee } = await connectRaw(b.url, { details: CALLEE })
  t.teardown(() => callee.terminate())
  callee.send([MSG.REGISTER, 1, {}, 'served'])
  await callee.nextOfType(MSG.REGISTERED)
  await untilRegistered(redis, prefix, 'served', 1)
  const { client: caller } = await connectRaw(a.url)
  t.teardown(() => caller.terminate())
  return { a, b, redis, prefix, callee, caller }
}

t.test('the callee\'s instance loses its Redis subscriber and gets it back: the caller still gets one terminal message', async (t) => {
  const { b, redis, callee, caller } = await servedCall(t)
  caller.send([MSG.CALL, 1, {}, 'served'])
  const inv = await callee.nextOfType(MSG.INVOCATION)
  const events: string[] = []
  b.app.wamp.fanout.on('down', () => events.push('down'))
  b.app.wamp.fanout.on('up', () => events.push('up'))
  b.app.wamp.fanout.on('error', () => {})
  await cut(redis, b, 'sub')
  await until(() => events.join() === 'down,up', 5000, 'B down and up again')
  const answer = await caller.next(8000)
  t.equal(terminalOf(answer), 1, `one terminal message for the call (got ${JSON.stringify(answer)})`)
  t.match(answer, [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.network_failure'])
  const interrupt = await callee.next()
  t.same(interrupt, [MSG.INTERRUPT, inv[1], { mode: 'killnowait', reason: 'wamp.error.canceled' }], 'the callee was interrupted once')
  callee.send([MSG.YIELD, inv[1], {}, ['too late']])
  caller.send([MSG.CALL, 1, {}, 'served'])
  const again = await callee.nextOfType(MSG.INVOCATION)
  callee.send([MSG.YIELD, again[1], {}, ['ok']])
  t.same(await caller.next(), [MSG.RESULT, 1, {}, ['ok']], 'nothing else for the first call; the id serves a new one')
  await callee.expectNone(50)
})

t.test('the same for the application\'s call through the cluster', async (t) => {
  const { a, b, redis, callee } = await servedCall(t)
  const call = a.app.wamp.call('served').then(() => 'resolved', (e: unknown) => e)
  await callee.nextOfType(MSG.INVOCATION)
  b.app.wamp.fanout.on('error', () => {})
  await cut(redis, b, 'sub')
  t.match(await within(call, 8000), { uri: 'wamp.error.network_failure' })
})

t.test('the caller\'s instance loses its Redis subscriber mid-call: one ERROR, the late answer (retried by the outbox) dropped', async (t) => {
  const { a, redis, callee, caller } = await servedCall(t)
  caller.send([MSG.CALL, 1, { receive_progress: true }, 'served'])
  const inv = await callee.nextOfType(MSG.INVOCATION)
  const events: string[] = []
  a.app.wamp.fanout.on('down', () => events.push('down'))
  a.app.wamp.fanout.on('up', () => events.push('up'))
  a.app.wamp.fanout.on('error', () => {})
  await cut(redis, a, 'sub')
  // Answered while A cannot hear it: the RESULT reaches nobody, and is tried again until A listens again.
  callee.send([MSG.YIELD, inv[1], { progress: true }, ['p']])
  callee.send([MSG.YIELD, inv[1], {}, ['late']])
  const answer = await caller.next(8000)
  t.match(answer, [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.network_failure'])
  await until(() => events.join() === 'down,up', 5000, 'A down and up again')
  await until(() => a.app.wamp.fanout.status === 'up', 5000)
  // Outlive the outbox's retries of the answer (100 ms apart) once A listens again.
  await sleep(300)
  caller.send([MSG.CALL, 2, {}, 'served'])
  const next = await callee.nextOfType(MSG.INVOCATION, 5000)
  callee.send([MSG.YIELD, next[1], {}, ['ok']])
  t.same(await caller.next(5000), [MSG.RESULT, 2, {}, ['ok']], 'nothing for request 1 after its ERROR')
})

// A PUBLISH that timed out on a hung Redis still runs once Redis resumes: the callee then hears of a call whose caller
// was told network_failure ("the callee may or may not have run it", PROTOCOL §7.9). It must not be left answering
// nobody: the CANCEL that follows interrupts it, before anything else reaches it.
t.test('Redis hangs while a REQUEST is on its way: network_failure to the caller; a late INVOCATION is interrupted at once', async (t) => {
  const server = await RedisProcess.start(t)
  t.teardown(() => server.resume())
  const { a, b, redis, prefix, callee, caller } = await servedCall(t, server.url)
  for (const app of [a, b]) app.app.wamp.fanout.on('error', () => {})
  caller.send([MSG.CALL, 1, {}, 'served', ['warm']])
  callee.send([MSG.YIELD, (await callee.nextOfType(MSG.INVOCATION))[1], {}, ['ok']])
  t.same(await caller.next(), [MSG.RESULT, 1, {}, ['ok']])

  server.pause()
  caller.send([MSG.CALL, 2, {}, 'served', ['lost']])
  t.match(await caller.next(10000), [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.network_failure'])
  server.resume()
  await until(() => a.app.wamp.fanout.status === 'up' && b.app.wamp.fanout.status === 'up', 10000, 'both up again')
  await untilRegistered(redis, prefix, 'served', 1)
  // B's heartbeat key expired during the pause (Redis's clock ran on), and B may not have written it again yet: A
  // must not take B for dead meanwhile (the call below would end instance_lost).
  caller.send([MSG.CALL, 3, {}, 'served', ['after']])
  const seen: unknown[][] = []
  for (;;) {
    const msg = await callee.next(8000)
    seen.push(msg)
    if (msg[0] === MSG.INVOCATION && (msg[4] as unknown[])[0] === 'after') {
      callee.send([MSG.YIELD, msg[1], {}, ['ok']])
      break
    }
  }
  const stale = seen.filter((m) => m[0] === MSG.INVOCATION && (m[4] as unknown[])[0] === 'lost')
  if (stale.length > 0) {
    t.same(seen.slice(0, 2), [stale[0], [MSG.INTERRUPT, stale[0][1], { mode: 'killnowait', reason: 'wamp.error.canceled' }]],
      'the late INVOCATION is followed by its one INTERRUPT')
    t.equal(seen.length, 3, `nothing else (got ${JSON.stringify(seen)})`)
  } else {
    t.equal(seen.length, 1, `the callee heard only of the call made after (got ${JSON.stringify(seen)})`)
  }
  t.same(await caller.next(8000), [MSG.RESULT, 3, {}, ['ok']])
})

t.test('after an outage, a heartbeat key not written again yet does not end calls in flight as instance_lost', async (t) => {
  const redis = inspector(t)
  const { apps: [a, b], prefix } = await rpcCluster(t, 2)
  const { client: callee } = await connectRaw(b.url)
  t.teardown(() => callee.terminate())
  callee.send([MSG.REGISTER, 1, {}, 'held'])
  await callee.nextOfType(MSG.REGISTERED)
  await untilRegistered(redis, prefix, 'held', 1)
  const outcome = a.app.wamp.call('held', ['x']).then(() => 'result', (err: { uri?: string }) => err.uri)
  const invocation = await callee.nextOfType(MSG.INVOCATION)
  const rpc = (a.app.wamp.fanout as RedisFanout).rpc as NonNullable<RedisFanout['rpc']>
  // As after Redis hung past the TTL: A rebuilds, and B's key is gone until B's next beat.
  rpc.registry.rebuild()
  await redis.del(`${prefix}instance:${(b.app.wamp.fanout as RedisFanout).instanceId}`)
  await rpc.check()
  callee.send([MSG.YIELD, invocation[1], {}, ['ok']])
  t.equal(await outcome, 'result', 'the call ends with its callee\'s answer')
})
