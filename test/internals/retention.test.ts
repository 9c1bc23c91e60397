import t from 'tap'
import fc from 'fast-check'
import { LocalRetention, newestEligible, payloadBytes } from '../../lib/pubsub/retention.js'
import type { RetentionLimits } from '../../lib/pubsub/retention.js'
import { PublishFilter } from '../../lib/pubsub/publish-filter.js'
import type { PublishRules } from '../../lib/pubsub/publish-filter.js'
import type { Session } from '../../lib/session/session.js'

// Issue 18: which retained event a subscriber gets (spec: "the most recent Retained Event that they would have
// received"), whatever the sequence of retains, restrictions and evictions (the wire is tested in test/retention.test.ts).

const TOPICS = ['a.x', 'a.y', 'b.z']
const ROLES = ['admin', 'user', 'guest']
const IDS = ['ann', 'bob']

interface Op { topic: string, rules: PublishRules | undefined, skip: number }

const rulesArb: fc.Arbitrary<PublishRules | undefined> = fc.option(fc.record({
  eligibleAuthrole: fc.option(fc.subarray(ROLES), { nil: undefined }),
  excludeAuthid: fc.option(fc.subarray(IDS), { nil: undefined }),
  exclude: fc.option(fc.subarray([1, 2]), { nil: undefined })
}, { requiredKeys: [] }), { nil: undefined })

const opArb: fc.Arbitrary<Op> = fc.record({ topic: fc.constantFrom(...TOPICS), rules: rulesArb, skip: fc.constantFrom(0, 0, 1) })

const subscriberArb = fc.record({ id: fc.constantFrom(1, 2, 3), authid: fc.constantFrom(...IDS, 'cy'), authrole: fc.constantFrom(...ROLES) })

function limits (perTopic: number, topics = 100): RetentionLimits {
  return { maxTopics: topics, maxEventBytes: 1024, maxBytes: 1024 * 1024, maxEventsPerTopic: perTopic, maxEventsPerSubscribe: 100 }
}

function replay (store: LocalRetention, ops: Op[]): void {
  ops.forEach((op, i) => {
    const args = [i]
    const filter = op.rules === undefined && op.skip === 0 ? undefined : new PublishFilter(op.rules ?? {}, op.skip)
    store.retain({ topic: op.topic, publicationId: i + 1, args, kwargs: undefined, publisher: undefined, filter, bytes: payloadBytes(args, undefined) })
  })
}

/** Brute force: per topic, the last publication the subscriber would have received. */
function expected (ops: Op[], subscriber: Session): Map<string, number> {
  const last = new Map<string, number>()
  ops.forEach((op, i) => {
    const filter = new PublishFilter(op.rules ?? {}, op.skip)
    if (filter.admits(subscriber)) last.set(op.topic, i + 1)
  })
  return last
}

t.test('issue 18: with room for every restricted event, each topic yields exactly the newest event the subscriber was eligible for', async (t) => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 40 }), subscriberArb, (ops, who) => {
    const store = new LocalRetention(limits(64))
    replay(store, ops)
    const subscriber = who as unknown as Session
    const got = newestEligible(store.lookup('', 'prefix', () => true), subscriber)
    const want = expected(ops, subscriber)
    // A publication whose only rule is the publisher's own exclusion supersedes older ones (documented): then that
    // publisher may get nothing for the topic; everything else is the brute-force answer.
    for (const event of got) if (want.get(event.topic) !== event.publicationId) return false
    for (const [topic, id] of want) {
      if (got.some((e) => e.topic === topic)) continue
      const newer = ops.slice(id).some((op) => op.topic === topic && op.skip === subscriber.id && new PublishFilter(op.rules ?? {}).onlySkips)
      if (!newer) return false
    }
    return true
  }), { numRuns: 500 })
})

t.test('issue 18: with few events per topic and few topics, a subscriber never gets an older event than its newest eligible one', async (t) => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), subscriberArb, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), (ops, who, perTopic, topics) => {
    const store = new LocalRetention(limits(perTopic, topics))
    replay(store, ops)
    const subscriber = who as unknown as Session
    if (store.size.topics > topics) return false
    const want = expected(ops, subscriber)
    return newestEligible(store.lookup('', 'prefix', () => true), subscriber).every((e) => want.get(e.topic) === e.publicationId)
  }), { numRuns: 500 })
})

t.test('maxEventsPerSubscribe: a bounded answer is the unbounded one\'s most recently retained topics, in the same order', async (t) => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 40 }), subscriberArb, fc.integer({ min: 1, max: 6 }), (ops, who, max) => {
    const store = new LocalRetention(limits(4))
    replay(store, ops)
    const subscriber = who as unknown as Session
    const all = newestEligible(store.lookup('', 'prefix', () => true), subscriber)
    const bounded = newestEligible(store.lookup('', 'prefix', () => true), subscriber, max)
    return bounded.length === Math.min(max, all.length) && bounded.every((e, i) => e === all[all.length - bounded.length + i])
  }), { numRuns: 300 })
})
