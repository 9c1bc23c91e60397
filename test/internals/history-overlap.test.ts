import t from 'tap'
import fc from 'fast-check'
import { overlaps } from '../../lib/pubsub/history.js'
import type { ResolvedRule } from '../../lib/pubsub/history.js'
import { Subscription } from '../../lib/pubsub/subscription.js'
import { matchesWildcard } from '../../lib/wire/uris.js'
import type { MatchPolicy } from '../../lib/wire/uris.js'

// get_events reads only the history rules that can hold a publication the subscription receives (`overlaps`): it must
// never skip a rule that holds one. Checked against every topic of a small universe.

const WORDS = ['a', 'b', 'ab']
const UNIVERSE: string[] = []
for (const x of WORDS) {
  UNIVERSE.push(x)
  for (const y of WORDS) {
    UNIVERSE.push(`${x}.${y}`)
    for (const z of WORDS) UNIVERSE.push(`${x}.${y}.${z}`)
  }
}

/** A pattern of `match` over the universe's words: exact and wildcard URIs of 1–3 components, prefixes ending anywhere. */
const patternArb: fc.Arbitrary<[string, MatchPolicy]> = fc.oneof(
  fc.tuple(fc.constantFrom(...UNIVERSE), fc.constant('exact' as MatchPolicy)),
  fc.tuple(fc.array(fc.constantFrom(...WORDS, ''), { minLength: 1, maxLength: 3 }).map((p) => p.join('.')).filter((p) => p.split('.').some((x) => x !== '')), fc.constant('wildcard' as MatchPolicy)),
  fc.tuple(fc.constantFrom('', ...UNIVERSE.flatMap((u) => [u, `${u}.`, u.slice(0, -1)])), fc.constant('prefix' as MatchPolicy))
)

function rule (topic: string, match: MatchPolicy): ResolvedRule {
  return { topic, match, limit: 1, maxEventBytes: 1, key: `${match}:${topic}`, parts: match === 'wildcard' ? topic.split('.') : undefined }
}

/** What the rule keeps, by brute force. */
function covers (r: ResolvedRule, topic: string): boolean {
  return r.match === 'exact' ? topic === r.topic : r.match === 'prefix' ? topic.startsWith(r.topic) : matchesWildcard(r.parts as string[], topic)
}

t.test('overlaps() is never false for a rule that covers a topic the subscription receives', async (t) => {
  fc.assert(fc.property(patternArb, patternArb, ([ruleTopic, ruleMatch], [topic, match]) => {
    const kept = rule(ruleTopic, ruleMatch)
    const subscription = new Subscription(1, topic, match)
    const shared = UNIVERSE.some((u) => (match === 'exact' ? u === topic : subscription.matches(u)) && covers(kept, u))
    return !shared || overlaps(kept, topic, match)
  }), { numRuns: 3000 })
})

t.test('overlaps() leaves out rules whose topics the subscription never receives', async (t) => {
  t.notOk(overlaps(rule('com.secret.', 'prefix'), 'pub.', 'prefix'))
  t.notOk(overlaps(rule('com.secret.x', 'exact'), 'pub.', 'prefix'))
  t.notOk(overlaps(rule('com..x', 'wildcard'), 'com.a.y', 'wildcard'))
  t.notOk(overlaps(rule('a.b.', 'prefix'), 'a.b', 'wildcard'), 'a topic under a.b. has 3 components or more')
  t.ok(overlaps(rule('a.b', 'prefix'), 'a.bc.', 'wildcard'))
  t.ok(overlaps(rule('', 'prefix'), 'x..z', 'wildcard'))
})
