import t from 'tap'
import { connectAutobahn } from './helpers/clients.js'
import type { AutobahnHandle } from './helpers/clients.js'
import { inspector } from './helpers/redis.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'

// app.wamp.call() across instances picks the callee as a client CALL would in a router realm — a routed exact
// registration by its invocation policy, else the routed pattern of highest precedence — and calls the oldest private
// registration of the URI only when no routed one matches (docs/router.md), as Dealer.invoke() does on one instance.

// Only shared (roundrobin) registrations are offered to other clients: a plain REGISTER stays private.
const realms = [{ name: 'realm1', router: { allow: (_uri: string, _session: unknown, options: { invoke?: unknown }) => options.invoke === 'roundrobin' } }]

t.test('app.wamp.call() across instances follows a shared registration\'s policy, not an older private registration of the URI', async (t) => {
  const { apps, prefix } = await rpcCluster(t, 3, { realms })
  const [a, b, c] = apps
  const redis = inspector(t)
  const clients: AutobahnHandle[] = []
  t.teardown(() => Promise.all(clients.map((h) => h.close())))
  const client = async (url: string): Promise<AutobahnHandle> => {
    const h = await connectAutobahn(url)
    clients.push(h)
    return h
  }

  // The oldest registration of c.shared is B's private one; C then holds a shared roundrobin one with two callees.
  await (await client(b.url)).session.register('c.shared', () => 'private')
  await untilRegistered(redis, prefix, 'c.shared', 1)
  for (const name of ['c1', 'c2']) await (await client(c.url)).session.register('c.shared', () => name, { invoke: 'roundrobin' })
  await untilRegistered(redis, prefix, 'c.shared', 3)

  const answers = async (from: typeof a, n: number): Promise<string[]> => {
    const got: string[] = []
    for (let i = 0; i < n; i++) got.push((await from.app.wamp.call('c.shared')).args[0] as string)
    return got.sort()
  }
  t.same(await answers(a, 4), ['c1', 'c1', 'c2', 'c2'], 'from A (no local registration): the roundrobin turn, never the private one')
  t.same(await answers(c, 4), ['c1', 'c1', 'c2', 'c2'], 'from C (holds the shared registration): the same')
  t.same(await answers(b, 4), ['c1', 'c1', 'c2', 'c2'], 'from B (holds the private registration): the same, not its own private one')

  // A routed pattern takes the call before a private exact registration of the URI.
  await (await client(b.url)).session.register('p.exact', () => 'private')
  await (await client(c.url)).session.register('p.', () => 'pattern', { match: 'prefix', invoke: 'roundrobin' })
  await untilRegistered(redis, prefix, 'p.exact', 1)
  await untilRegistered(redis, prefix, 'p.', 0)
  t.equal((await redis.hlen(`${prefix}rpc:pat:realm1`)), 1, 'the pattern is listed')
  t.equal((await a.app.wamp.call('p.exact')).args[0], 'pattern', 'the routed prefix registration, by the router\'s rules')
  t.equal((await a.app.wamp.call('p.exact')).args[0], 'pattern', 'again, from the cache')
  t.equal((await b.app.wamp.call('p.exact')).args[0], 'pattern', 'from B, which holds the private exact one: the routed pattern too')

  // With no routed registration that matches, the private one answers the application.
  await (await client(b.url)).session.register('q.only', () => 'private')
  await untilRegistered(redis, prefix, 'q.only', 1)
  t.equal((await a.app.wamp.call('q.only')).args[0], 'private', 'the oldest private registration')
  t.equal((await a.app.wamp.call('q.only')).args[0], 'private', 'again, from the cache')
  t.equal((await b.app.wamp.call('q.only')).args[0], 'private', 'from B itself')
})
