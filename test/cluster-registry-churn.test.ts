import t from 'tap'
import { connectAutobahn } from './helpers/clients.js'
import type { AutobahnHandle } from './helpers/clients.js'
import { commandsDuring, eventually, inspector, REDIS_URL } from './helpers/redis.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'
import type { TestApp } from './helpers/app.js'

// A client churning registrations (REGISTER, UNREGISTER, again…) costs each other instance what changed — the entry,
// applied to its cached registry in place — not a re-read of the hash (for a pattern: the realm's whole pattern list)
// per change. And every lookup made meanwhile follows the changes.

const answer = async (app: TestApp, uri: string): Promise<unknown> => {
  try {
    return (await app.app.wamp.call(uri)).args[0]
  } catch (err) {
    return (err as { uri: string }).uri
  }
}

t.test('registration churn on B: A reads no registry hash again, and its lookups follow every change', async (t) => {
  // Slow heartbeats: nothing but the churn and the calls talks to Redis in the counted window.
  const { apps, prefix } = await rpcCluster(t, 3, { realms: [{ name: 'realm1', router: true }] }, undefined, REDIS_URL, { heartbeat: 60_000, probeInterval: 60_000 })
  const [a, b, c] = apps
  const redis = inspector(t)
  const clients: AutobahnHandle[] = []
  t.teardown(() => Promise.all(clients.map((h) => h.close())))
  for (const url of [b.url, c.url]) clients.push(await connectAutobahn(url))
  const [churner, steady] = clients

  await steady.session.register('p.', () => 'p', { match: 'prefix' })
  await steady.session.register('e.rr', () => 'c', { invoke: 'roundrobin' })
  await untilRegistered(redis, prefix, 'e.rr', 1)
  await eventually(async () => (await answer(a, 'p.x')) === 'p', 3000, 'the pattern on C found from A')
  // Every hash A will look up is read (and kept) before the window: the misses too.
  t.equal(await answer(a, 'q.x'), 'wamp.error.no_such_procedure')
  t.equal(await answer(a, 'e.rr'), 'c')

  const N = 10
  const commands = await commandsDuring(t, redis, prefix, async () => {
    for (let i = 0; i < N; i++) {
      const pattern = await churner.session.register('q.', () => 'q', { match: 'prefix' })
      const shared = await churner.session.register('e.rr', () => 'b', { invoke: 'roundrobin' })
      await eventually(async () => (await answer(a, 'q.x')) === 'q', 3000, `round ${i}: A finds the pattern registered on B`)
      await eventually(async () => (await answer(a, 'e.rr')) === 'b' || (await answer(a, 'e.rr')) === 'b', 3000, `round ${i}: A's turn reaches B's callee`)
      t.equal(await answer(a, 'p.x'), 'p', `round ${i}: C's pattern still answers`)
      await churner.session.unregister(pattern)
      await churner.session.unregister(shared)
      await eventually(async () => (await answer(a, 'q.x')) === 'wamp.error.no_such_procedure', 3000, `round ${i}: A forgets B's pattern`)
      await eventually(async () => (await answer(a, 'e.rr')) === 'c' && (await answer(a, 'e.rr')) === 'c', 3000, `round ${i}: only C's callee is left`)
    }
  })

  const reads = commands.filter((cmd) => cmd[0].toLowerCase() === 'hgetall')
  const announcements = commands.filter((cmd) => cmd[0].toLowerCase() === 'publish' && cmd[1] === `${prefix}rpc:changed`)
  t.equal(announcements.length, 4 * N, 'each REGISTER and UNREGISTER announced once')
  // A cache drop (a health PING timed out on a loaded machine: announcements may have been missed) costs one read
  // of each hash A uses; tolerated once, never per change.
  t.ok(reads.length <= 3, `${reads.length} registry reads for ${4 * N} changes (${reads.map((cmd) => cmd[1].slice(prefix.length)).join(', ')})`)
})
