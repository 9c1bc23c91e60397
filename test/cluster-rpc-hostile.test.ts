import t from 'tap'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { rpcCluster } from './helpers/cluster.js'
import { connectRaw, messagesBeforeMarker, MSG } from './helpers/raw-client.js'
import { inspector } from './helpers/redis.js'

// Whatever arrives on an instance's cluster RPC channel (another program on the same Redis, a broken or older peer),
// the instance neither crashes nor acts on a message of the wrong shape: a forged KILL whose reason is not a URI,
// an EVENT whose topic is a number, a RESULT whose args are a string… are dropped. A well-formed message still
// acts (the last check), which also proves the messages went to the right channel.

const packr = new Packr({ useRecords: false, mapsAsObjects: true })

t.test('malformed messages on the RPC channel are dropped; well-formed ones still act', async (t) => {
  const { apps: [a], prefix } = await rpcCluster(t, 1)
  const redis = inspector(t)
  const channels = await redis.pubsub('CHANNELS', `${prefix}rpc:*`) as string[]
  const channel = channels.find((c) => !c.endsWith(':changed'))
  if (channel === undefined) throw new Error(`no RPC channel among ${channels.join(', ')}`)

  const { client, sessionId: sid } = await connectRaw(a.url)
  t.teardown(() => client.terminate())
  client.send([MSG.SUBSCRIBE, 1, {}, 'test.marker'])
  t.equal((await client.next())[0], MSG.SUBSCRIBED)

  const hostile: unknown[] = [
    [7, 'realm1', sid, 123, 456], // KILL: reason not a URI
    [7, 'realm1', sid, 'not a uri!', null],
    [6, 'realm1', sid, 42, null, null], // EVENT: topic not a string
    [6, 'realm1', sid, 'test.marker', 'not args', 7],
    [8, 'realm1', sid, 'x', {}], // REVOKE_*: ids not numbers
    [9, 'realm1', sid, null, 5],
    [8, 'realm1', sid, -1, null],
    [4, 1, 'not args', 'not kwargs'], // RESULT
    [5, 1, 42, null, null], // ERROR: uri not a string
    [1, 5, 1, 'realm1', 'u', sid, 0, 'a', 'b', 1, 'c', 'd'], // REQUEST: every field wrong
    [1, 'from', 1, 'realm1', 'u', sid, 0, null, null, false, [1], null], // REQUEST: caller malformed
    [2, null, {}], // CANCEL
    [10, [10, [7, 'realm1', sid, 5, null]], 5], // a batch in a batch, a number
    [10, [7, 'realm1', sid, 2 ** 60, null]],
    [7, 'realm1', 2 ** 64, 'wamp.close.killed', null],
    { 0: 7, 1: 'realm1', 2: sid }, // a map, not an array
    'a string',
    [],
    [99, 'realm1', sid]
  ]
  for (const m of hostile) await redis.publish(channel, packr.pack(m))
  await redis.publish(channel, Buffer.from('not msgpack at all \xc1\xc1'))
  await redis.publish(channel, Buffer.alloc(0))

  // Random messages of every kind (some happen to be well-formed: a KILL with a random one-word reason is one), aimed
  // at a session id nobody has: whatever they are, the instance goes on and our session is untouched.
  const kinds = fc.integer({ min: 1, max: 10 })
  await fc.assert(fc.asyncProperty(kinds, fc.array(fc.anything(), { maxLength: 12 }), async (kind, rest) => {
    const m = [kind, 'realm1', sid === 1 ? 2 : sid - 1, ...rest]
    await redis.publish(channel, packr.pack(m))
    return true
  }), { numRuns: 300 })

  const got = await messagesBeforeMarker(client, () => a.app.wamp.publishToAll('test.marker', ['marker']))
  t.same(got, [], 'the session got nothing from the hostile messages')

  await redis.publish(channel, packr.pack([7, 'realm1', sid, 'wamp.close.killed', 'by a well-formed KILL']))
  const goodbye = await client.next()
  t.same(goodbye, [MSG.GOODBYE, { message: 'by a well-formed KILL' }, 'wamp.close.killed'], 'a well-formed message still acts')
})
