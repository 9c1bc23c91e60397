import t from 'tap'
import type { Test } from 'tap'
import { RedisFanout, RemoteSession } from '../index.js'
import type { PublishFailure } from '../lib/cluster/fanout.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { inspector } from './helpers/redis.js'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'

// Payloads msgpack (the cluster's wire) cannot carry: a BigInt beyond 64 bits (a CBOR client's bignum, or the
// application's), a symbol. Whatever the path to a callee on another instance, the request gets exactly one answer
// that says why — invalid_argument for what the caller supplied, runtime_error for what the callee answered —
// never network_failure, never a hang until the timeout.

const BIG = 2n ** 70n
const CALLEE = { roles: { caller: { features: {} }, callee: { features: { call_canceling: true, progressive_call_results: true } } } }
const CALLER = { roles: { caller: { features: { progressive_call_results: true } } } }

type Cluster = Awaited<ReturnType<typeof rpcCluster>>

/** A JSON callee of `uri` on `b`, known to the cluster registry. */
async function calleeOn (t: Test, cluster: Cluster, uri: string, protocols = ['wamp.2.json']): Promise<Awaited<ReturnType<typeof connectRaw>>> {
  const callee = await connectRaw(cluster.apps[1].url, { protocols, details: CALLEE })
  t.teardown(() => callee.client.close())
  callee.client.send([MSG.REGISTER, 1, {}, uri])
  await callee.client.nextOfType(MSG.REGISTERED)
  await untilRegistered(inspector(t), cluster.prefix, uri, 1)
  return callee
}

t.test('arguments msgpack cannot encode, to a callee on another instance: invalid_argument on every path', async (t) => {
  const cluster = await rpcCluster(t, 2, { realms: [{ name: 'realm1', router: true }] })
  const a = cluster.apps[0]
  const { client: callee, sessionId } = await calleeOn(t, cluster, 'on.b')

  const refused = { uri: 'wamp.error.invalid_argument', args: [/call's payload cannot be encoded for another instance \(msgpack\)/] }
  t.match(await a.app.wamp.call('on.b', [BIG]).catch((e: unknown) => e), refused, 'app.wamp.call, a BigInt past 64 bits')
  t.match(await a.app.wamp.call('on.b', [], { s: Symbol('x') }).catch((e: unknown) => e), refused, 'app.wamp.call, a symbol')
  const remote = await a.app.wamp.session(sessionId)
  t.ok(remote instanceof RemoteSession)
  t.match(await (remote as RemoteSession).call('on.b', [BIG]).catch((e: unknown) => e), refused, 'RemoteSession.call')

  // A router-mode client CALL whose CBOR bignum the server decoded, but msgpack cannot carry.
  const { client: caller } = await connectRaw(a.url, { protocols: ['wamp.2.cbor'] })
  t.teardown(() => caller.close())
  caller.send([MSG.CALL, 7, {}, 'on.b', [BIG]])
  t.match(await caller.next(), [MSG.ERROR, MSG.CALL, 7, {}, 'wamp.error.invalid_argument', refused.args], 'router-mode client CALL')

  // None of them reached the callee: the next INVOCATION it sees is the call that could be encoded.
  const ok = a.app.wamp.call('on.b', ['fine'])
  const inv = await callee.next()
  t.match(inv, [MSG.INVOCATION, Number, Number, {}, ['fine']])
  callee.send([MSG.YIELD, inv[1], {}, ['done']])
  t.same((await ok).args, ['done'])
  t.same(((a.app.wamp.fanout as RedisFanout).rpc?.stats.callsOut), 1, 'only the encodable call went out')

  let thrown: unknown
  try {
    (remote as RemoteSession).publish('topic', [BIG])
  } catch (err) {
    thrown = err
  }
  t.match(thrown, { uri: 'wamp.error.invalid_argument' }, 'RemoteSession.publish throws, as it does while Redis is down')
})

t.test('an answer msgpack cannot encode, from a callee on another instance: one ERROR to the caller, at once', async (t) => {
  const cluster = await rpcCluster(t, 2, { realms: [{ name: 'realm1', router: true }] })
  const a = cluster.apps[0]
  // A CBOR callee: its bignums reach B as BigInt, which B's msgpack cannot send on to A.
  const { client: callee } = await calleeOn(t, cluster, 'big.answers', ['wamp.2.cbor'])
  const { client: caller } = await connectRaw(a.url, { details: CALLER })
  t.teardown(() => caller.close())

  const result = a.app.wamp.call('big.answers').catch((e: unknown) => e)
  let inv = await callee.nextOfType(MSG.INVOCATION)
  callee.send([MSG.YIELD, inv[1], {}, [BIG]])
  t.match(await result, { uri: 'wamp.error.runtime_error', args: [/the result cannot be encoded for another instance \(msgpack\)/] }, 'RESULT')

  caller.send([MSG.CALL, 1, {}, 'big.answers'])
  inv = await callee.nextOfType(MSG.INVOCATION)
  callee.send([MSG.ERROR, MSG.INVOCATION, inv[1], {}, 'app.failed', [BIG]])
  t.match(await caller.next(), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.runtime_error', [/the app\.failed error cannot be encoded for another instance/]], 'ERROR')

  caller.send([MSG.CALL, 2, { receive_progress: true }, 'big.answers'])
  inv = await callee.nextOfType(MSG.INVOCATION)
  callee.send([MSG.YIELD, inv[1], { progress: true }, ['first']])
  t.same(await caller.next(), [MSG.RESULT, 2, { progress: true }, ['first']], 'an encodable progressive result passes')
  callee.send([MSG.YIELD, inv[1], { progress: true }, [BIG]])
  t.match(await caller.next(), [MSG.ERROR, MSG.CALL, 2, {}, 'wamp.error.runtime_error', [/a progressive result cannot be encoded for another instance/]], 'PROGRESS ends the call')
  t.match(await callee.next(), [MSG.INTERRUPT, inv[1], { mode: 'killnowait' }], 'the callee is interrupted: nobody takes the rest')
  // Its late final answer goes nowhere: the caller's next message answers its next call.
  callee.send([MSG.YIELD, inv[1], {}, ['late']])
  caller.send([MSG.CALL, 3, {}, 'big.answers'])
  inv = await callee.nextOfType(MSG.INVOCATION)
  callee.send([MSG.YIELD, inv[1], {}, ['three']])
  t.same(await caller.next(), [MSG.RESULT, 3, {}, ['three']], 'exactly one terminal message per call')
})

t.test('a publication msgpack cannot encode: local subscribers get it, the fan-out reports it, nothing throws', async (t) => {
  const cluster = await rpcCluster(t, 2)
  const a = cluster.apps[0]
  const failures: PublishFailure[] = []
  ;(a.app.wamp.fanout as RedisFanout).on('publish-failed', (f) => { failures.push(f) })
  const { client: local } = await connectRaw(a.url, { protocols: ['wamp.2.cbor'] })
  t.teardown(() => local.close())
  local.send([MSG.SUBSCRIBE, 1, {}, 'big.news'])
  await local.nextOfType(MSG.SUBSCRIBED)
  t.equal(a.app.wamp.publishToAll('big.news', [BIG]), 1, 'delivered here, no throw')
  t.match(await local.next(), [MSG.EVENT, Number, Number, {}, [BIG]])
  t.match(failures, [{ topic: 'big.news', error: { message: /too large to fit in MessagePack/ } }], 'publish-failed, not a silent loss')
  t.equal((a.app.wamp.fanout as RedisFanout).stats.publishFailed, 1)
})
