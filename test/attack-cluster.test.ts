import t from 'tap'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import type { RedisFanout, WampSession as Session } from '../index.js'
import { internal } from './helpers/app.js'
import { connectRaw, messagesBeforeMarker, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { eventually, inspector, startCluster } from './helpers/redis.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'

// A hostile client on instance A against what instance B (and Redis) do for it: every cross-instance path decides
// as the local one would — B's router `allow` rules, the caller's authorization — whatever the client asks.

function identify (session: Session): void {
  const { 'x-authid': authid, 'x-authrole': authrole } = session.request?.headers ?? {}
  if (typeof authid === 'string') internal(session).authid = authid
  if (typeof authrole === 'string') internal(session).authrole = authrole
}

async function join (url: string, who?: [string, string]): Promise<{ client: RawClient, sessionId: number }> {
  const joined = await connectRaw(url, who === undefined ? {} : { headers: { 'x-authid': who[0], 'x-authrole': who[1] } })
  return joined
}

async function register (client: RawClient, uri: string, request: number, options: Record<string, unknown> = {}): Promise<number> {
  client.send([MSG.REGISTER, request, options, uri])
  const reply = await client.next()
  if (reply[0] !== MSG.REGISTERED) throw new Error(`expected REGISTERED, got ${JSON.stringify(reply)}`)
  return reply[2] as number
}

t.test('router allow across instances: a client on A reaches only the registrations B offers to other clients', async (t) => {
  // Only sessions of role `trusted` offer procedures to other clients; the others' registrations are the application's.
  const { apps: [a, b, c], prefix } = await rpcCluster(t, 3, {
    onSessionOpen: identify,
    realms: [{ name: 'realm1', router: { allow: [{ uri: 'com.', roles: ['trusted'] }] } }]
  })
  const redis = inspector(t)
  const { client: privateCallee } = await join(b.url, ['p', 'user'])
  const { client: trustedCallee } = await join(c.url, ['t', 'trusted'])
  const { client: caller } = await join(a.url)
  t.teardown(() => Promise.all([privateCallee.close(), trustedCallee.close(), caller.close()]))
  await register(privateCallee, 'com.private', 1)
  await register(privateCallee, 'com.both', 2) // the oldest registration of com.both: private
  await untilRegistered(redis, prefix, 'com.both', 1)
  await register(trustedCallee, 'com.both', 1)
  await untilRegistered(redis, prefix, 'com.private', 1)
  await untilRegistered(redis, prefix, 'com.both', 2)

  caller.send([MSG.CALL, 1, {}, 'com.private'])
  t.match(await caller.next(), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.no_such_procedure'], 'a private registration on B is not offered')
  caller.send([MSG.CALL, 2, {}, 'com.both', ['x']])
  const invocation = await trustedCallee.next()
  t.match(invocation, [MSG.INVOCATION, Number, Number, { procedure: 'com.both' }, ['x']], 'the offered registration on C answers, not the older private one')
  trustedCallee.send([MSG.YIELD, invocation[1], {}, ['from C']])
  t.same(await caller.next(), [MSG.RESULT, 2, {}, ['from C']])

  // The application still calls any client's procedure, as it does locally — and that is the first INVOCATION the
  // private callee sees: the client's CALLs never reached it.
  const answered = a.app.wamp.call('com.private', ['app'])
  const fromApp = await privateCallee.next()
  t.match(fromApp, [MSG.INVOCATION, Number, Number, { procedure: 'com.private' }, ['app']])
  privateCallee.send([MSG.YIELD, fromApp[1], {}, ['to the app']])
  t.same((await answered).args, ['to the app'])
})

t.test('B decides too: a REQUEST naming a private registration with a client caller is refused on B itself', async (t) => {
  const { apps: [, b], prefix } = await rpcCluster(t, 2, {
    onSessionOpen: identify,
    realms: [{ name: 'realm1', router: { allow: [{ uri: 'com.', roles: ['trusted'] }] } }]
  })
  const redis = inspector(t)
  const { client: callee, sessionId } = await join(b.url, ['p', 'user'])
  t.teardown(() => callee.close())
  const registration = await register(callee, 'com.private', 1)
  // What an instance that ignores the routed flag (an older version) would send B, answered on its own channel.
  const packr = new Packr({ useRecords: false, mapsAsObjects: true })
  const listener = redis.duplicate()
  t.teardown(() => { listener.disconnect() })
  const answers: unknown[][] = []
  listener.on('messageBuffer', (_channel: Buffer, data: Buffer) => { answers.push(packr.unpack(data) as unknown[]) })
  await listener.subscribe(`${prefix}rpc:forged`)
  const channel = `${prefix}rpc:${(b.app.wamp.fanout as RedisFanout).instanceId}`
  const request = (id: number, caller: unknown): unknown[] => [1, 'forged', id, 'realm1', 'com.private', sessionId, registration, [id], null, false, caller, null]
  await redis.publish(channel, packr.pack(request(1, [42, 'mallory', 'anonymous', false])))
  await redis.publish(channel, packr.pack(request(2, null))) // the application's call (no caller): served
  const invocation = await callee.next()
  t.match(invocation, [MSG.INVOCATION, Number, registration, {}, [2]], 'the callee saw only the application\'s call')
  callee.send([MSG.YIELD, invocation[1], {}, ['ok']])
  await eventually(() => answers.length === 2, 3000, 'both answered')
  t.match(answers[0], [5, 1, 'wamp.error.no_such_procedure'], 'the client\'s call: ERROR, as for a procedure nobody offers')
  t.same(answers[1], [4, 2, ['ok'], {}])
})

t.test('remove_callee / remove_subscriber on A for a session on B: only what the caller may see, as on B itself', async (t) => {
  const { apps: [a, b] } = await rpcCluster(t, 2, {
    metaApi: true,
    onSessionOpen: identify,
    realms: [{ name: 'realm1', router: true, broker: true }],
    permissions: {
      user: [{ uri: 'wamp.', match: 'prefix', allow: ['call'] }, { uri: 'com.public.', match: 'prefix', allow: ['call', 'subscribe'] }],
      svc: [{ uri: 'com.', match: 'prefix', allow: ['register', 'subscribe', 'call'] }]
    }
  })
  const REVOCABLE = { roles: { caller: {}, callee: { features: { registration_revocation: true } }, subscriber: { features: { subscription_revocation: true } } } }
  const { client: victim, sessionId: v } = await connectRaw(b.url, { details: REVOCABLE, headers: { 'x-authid': 'svc', 'x-authrole': 'svc' } })
  const { client: attacker } = await join(a.url, ['mallory', 'user'])
  t.teardown(() => Promise.all([victim.close(), attacker.close()]))
  const secret = await register(victim, 'com.secret.proc', 1)
  const open = await register(victim, 'com.public.proc', 2)
  victim.send([MSG.SUBSCRIBE, 3, {}, 'com.secret.topic'])
  const secretSub = (await victim.next())[2] as number
  await eventually(async () => (await a.app.wamp.session(v)) !== undefined, 3000, 'B\'s session in the registry')

  attacker.send([MSG.CALL, 1, {}, 'wamp.registration.remove_callee', [secret, v]])
  t.match(await attacker.next(), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.no_such_registration'], 'a registration it may not call: as if none')
  attacker.send([MSG.CALL, 2, {}, 'wamp.subscription.remove_subscriber', [secretSub, v]])
  t.match(await attacker.next(), [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.no_such_subscription'], 'a subscription it may not subscribe to: as if none')
  attacker.send([MSG.CALL, 3, {}, 'wamp.registration.remove_callee', [424242, v]])
  t.match(await attacker.next(), [MSG.ERROR, MSG.CALL, 3, {}, 'wamp.error.no_such_registration'], 'an id the session does not hold')
  attacker.send([MSG.CALL, 4, {}, 'wamp.registration.remove_callee', [open, v, 'com.example.bye']])
  t.same(await attacker.next(), [MSG.RESULT, 4, {}], 'a registration it may see is revoked')
  t.same(await victim.next(), [MSG.UNREGISTERED, 0, { registration: open, reason: 'com.example.bye' }], 'the first revocation the victim sees')
  t.ok(b.app.wamp.sessions.get(v)?.hasRegistration('com.secret.proc'), 'the secret registration is still there')
})

t.test('the INVOCATION a client on A causes on B is the one a caller on B would cause (receive_progress, disclosure)', async (t) => {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, { onSessionOpen: identify, realms: [{ name: 'realm1', router: true }] })
  const redis = inspector(t)
  // A callee that announced neither progressive_call_results nor anything else.
  const { client: callee } = await connectRaw(b.url, { details: { roles: { callee: {} } } })
  const { client: remote } = await join(a.url, ['ann', 'user'])
  const { client: local } = await join(b.url, ['ann', 'user'])
  t.teardown(() => Promise.all([callee.close(), remote.close(), local.close()]))
  const registration = await register(callee, 'com.plain', 1)
  await untilRegistered(redis, prefix, 'com.plain', 1)
  const invocationOf = async (caller: RawClient, options: Record<string, unknown>): Promise<unknown[]> => {
    caller.send([MSG.CALL, 7, options, 'com.plain', []])
    const invocation = await callee.next()
    callee.send([MSG.YIELD, invocation[1], {}])
    t.same(await caller.next(), [MSG.RESULT, 7, {}])
    return invocation
  }
  for (const options of [{ receive_progress: true }, { receive_progress: true, disclose_me: true }, {}]) {
    const here = await invocationOf(local, options)
    const there = await invocationOf(remote, options)
    const details = (m: unknown[]): Record<string, unknown> => ({ ...(m[3] as Record<string, unknown>), caller: typeof (m[3] as Record<string, unknown>).caller })
    t.same([there[2], details(there)], [registration, details(here)], `same INVOCATION details for ${JSON.stringify(options)}`)
  }
})

t.test('property: a client publication from A reaches a subscriber on B exactly when it reaches its twin on A, with the same details', async (t) => {
  const { apps: [a, b] } = await startCluster(t, 2, { onSessionOpen: identify, realms: [{ name: 'realm1', broker: true }] })
  const IDENTITIES: Array<[string, string]> = [['ann', 'admin'], ['bob', 'user'], ['cy', 'user']]
  // Twins: the same identity and subscription on A and on B; a prefix subscriber on each instance too.
  interface Subscriber { client: RawClient, sessionId: number, identity: number }
  const subscribers: Array<[Subscriber, Subscriber]> = []
  for (const [i, who] of [...IDENTITIES, ['dee', 'guest'] as [string, string]].entries()) {
    const pair = [] as unknown as [Subscriber, Subscriber]
    for (const app of [a, b]) {
      const { client, sessionId } = await join(app.url, who)
      t.teardown(() => client.terminate())
      client.send([MSG.SUBSCRIBE, 1, i === 3 ? { match: 'prefix' } : {}, i === 3 ? 'com.' : 'com.prop'])
      t.equal((await client.next())[0], MSG.SUBSCRIBED)
      pair.push({ client, sessionId, identity: i })
    }
    subscribers.push(pair)
  }
  const { client: publisher } = await join(a.url, ['pat', 'user'])
  t.teardown(() => publisher.terminate())
  const all = subscribers.flat()
  const names = ['ann', 'bob', 'cy', 'dee', 'pat']
  const roles = ['admin', 'user', 'guest']
  // Each rule absent more often than not, so that publications reach someone and each rule gets to decide alone.
  const rule = <T>(values: T[]): fc.Arbitrary<T[] | undefined> =>
    fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: fc.subarray(values, { minLength: 1 }), weight: 1 })
  const optionsArb = fc.record({
    disclose_me: fc.boolean(),
    eligible: rule([0, 1, 2, 3]),
    exclude: rule([0, 1, 2, 3]),
    eligible_authid: rule(names),
    exclude_authid: rule(names),
    eligible_authrole: rule(roles),
    exclude_authrole: rule(roles)
  })
  let request = 10
  await fc.assert(fc.asyncProperty(optionsArb, async (picked) => {
    // Session lists name both twins of an identity, so that the rule is the same on both instances.
    const ids = (list: number[] | undefined): number[] | undefined => list?.flatMap((i) => subscribers[i].map((s) => s.sessionId))
    const options: Record<string, unknown> = { acknowledge: true }
    for (const [key, value] of Object.entries(picked)) if (value !== undefined) options[key] = value
    if (picked.eligible !== undefined) options.eligible = ids(picked.eligible)
    if (picked.exclude !== undefined) options.exclude = ids(picked.exclude)
    publisher.send([MSG.PUBLISH, ++request, options, 'com.prop', ['event']])
    publisher.send([MSG.PUBLISH, ++request, { acknowledge: true }, 'com.prop', ['marker']])
    for (const ack of [await publisher.next(), await publisher.next()]) {
      if (ack[0] !== MSG.PUBLISHED) throw new Error(`publication refused: ${JSON.stringify(ack)}`)
    }
    const seen = await Promise.all(all.map(async (s) => await messagesBeforeMarker(s.client, () => {})))
    for (let i = 0; i < all.length; i += 2) {
      const [onA, onB] = [seen[i], seen[i + 1]].map((messages) => messages.map((m) => [m[0], m[3], m[4]]))
      if (JSON.stringify(onA) !== JSON.stringify(onB)) throw new Error(`${names[all[i].identity]}: on A ${JSON.stringify(onA)}, on B ${JSON.stringify(onB)} for ${JSON.stringify(options)}`)
    }
    return true
  }), { numRuns: 100 })
})
