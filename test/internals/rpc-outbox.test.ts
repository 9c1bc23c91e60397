import t from 'tap'
import fc from 'fast-check'
import { CANCEL, MAX_BATCH, MAX_BATCH_BYTES, REQUEST, RESULT, RpcOutbox, unpackRpc } from '../../lib/cluster/rpc-outbox.js'
import type { ClusterLink } from '../../lib/cluster/link.js'

// The cluster RPC outbox batches what one tick sends each instance. Whatever the mix of sizes and peers: every
// message arrives exactly once, in the order sent to its instance, and no PUBLISH holds more than MAX_BATCH messages
// or (unless it holds one message) more than MAX_BATCH_BYTES.

interface Published { channel: string, data: Buffer }

function outboxTo (published: Published[], receivers = 1): { outbox: RpcOutbox, undelivered: number[] } {
  const undelivered: number[] = []
  // The one method of an ioredis client the outbox calls (publish); Redis itself is exercised by the cluster tests.
  const redis = { publish: async (channel: string, data: Buffer) => { published.push({ channel, data }); return receivers } }
  const link = { instanceId: 'me', prefix: 'p:', heartbeat: 1000, probeInterval: 500, rebuildWindow: 1000, connection: () => undefined, publisher: () => redis } as unknown as ClusterLink
  const stats = { callsOut: 0, callsIn: 0, messagesOut: 0, messagesIn: 0 }
  return { outbox: new RpcOutbox(link, stats, (id) => { undelivered.push(id) }), undelivered }
}

const tick = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

t.test('every message once, in order per instance, batches within their bounds', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ to: fc.constantFrom('a', 'b', 'c'), size: fc.oneof(fc.nat(200), fc.nat(300_000)) }), { maxLength: 120 }),
    async (sends) => {
      const published: Published[] = []
      const { outbox } = outboxTo(published)
      sends.forEach(({ to, size }, i) => outbox.send(to, [RESULT, i, ['x'.repeat(size)], null]))
      await tick()
      const got: Record<string, number[]> = {}
      for (const { channel, data } of published) {
        const messages = unpackRpc(data)
        if (messages.length > MAX_BATCH) return false
        if (messages.length > 1 && data.length > MAX_BATCH_BYTES) return false
        for (const m of messages) (got[channel] ??= []).push(m[1] as number)
      }
      for (const to of ['a', 'b', 'c']) {
        const expected = sends.flatMap((s, i) => s.to === to ? [i] : [])
        if (JSON.stringify(got[`p:rpc:${to}`] ?? []) !== JSON.stringify(expected)) return false
      }
      return true
    }), { numRuns: 60 })
  t.pass('60 random ticks: exactly once, in order, bounded')
})

t.test('a tick of small messages for one instance is one PUBLISH; a lone message goes unbatched', async (t) => {
  const published: Published[] = []
  const { outbox } = outboxTo(published)
  for (let i = 0; i < MAX_BATCH; i++) outbox.send('a', [CANCEL, 'me', i])
  outbox.send('b', [CANCEL, 'me', 99])
  await tick()
  t.equal(published.length, 2)
  t.same(unpackRpc(published[0].data).map((m) => m[2]), Array.from({ length: MAX_BATCH }, (_, i) => i))
  t.same(unpackRpc(published[1].data), [[CANCEL, 'me', 99]], 'a lone message is the message itself')
})

t.test('requests of a batch that reaches nobody are each reported undelivered', async (t) => {
  const published: Published[] = []
  const { outbox, undelivered } = outboxTo(published, 0)
  for (let i = 1; i <= 5; i++) outbox.send('gone', [REQUEST, 'me', i, 'realm1', 'p', 1, 1, null, null, false, null, null])
  outbox.send('gone', [CANCEL, 'me', 3])
  await tick()
  await tick()
  t.same(undelivered, [1, 2, 3, 4, 5])
})

t.test('a message that cannot be encoded fails alone', async (t) => {
  const published: Published[] = []
  const { outbox, undelivered } = outboxTo(published)
  const problem = outbox.send('a', [REQUEST, 'me', 1, 'realm1', 'p', 1, 1, [1n << 70n], null, false, null, null])
  t.type(problem, 'string', 'the sender is told why (it fails its call with invalid_argument)')
  t.equal(outbox.send('a', [CANCEL, 'me', 2]), undefined)
  await tick()
  t.same(undelivered, [], 'nothing is reported undelivered: it never left')
  t.same(published.map((p) => unpackRpc(p.data)), [[[CANCEL, 'me', 2]]], 'the rest of the tick still leaves')
})
