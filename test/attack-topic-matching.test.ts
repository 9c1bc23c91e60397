import t from 'tap'
import fc from 'fast-check'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { PatternIndex } from '../lib/wire/uri-trie.js'

// Finding the prefix subscriptions a topic matches looked up every string prefix of each of the topic's components:
// one hash of up to 1 024 characters per character, so a 1 024-character topic cost 1.8 ms per PUBLISH (and per CALL
// to an app with pattern procedures) as soon as one prefix subscription sat at that level — `""` or `com` at the root.
// Now a level with few prefixes compares them instead. The cost is counted in hash lookups, not timed.

/** Map#get calls made by `run` (synchronous, so nothing else runs meanwhile). */
function mapGets (run: () => void): number {
  const get = Map.prototype.get
  let count = 0
  // eslint-disable-next-line no-extend-native -- counting, restored below
  Map.prototype.get = function (this: Map<unknown, unknown>, key: unknown) {
    count++
    return get.call(this, key)
  }
  try {
    run()
  } finally {
    Map.prototype.get = get // eslint-disable-line no-extend-native
  }
  return count
}

t.test('a long topic under a root prefix costs a few lookups, not one per character', async (t) => {
  const index = new PatternIndex<string>()
  index.set('', 'prefix', 'everything')
  index.set('com', 'prefix', 'com')
  index.set('com.app.', 'prefix', 'app')
  const found: string[] = []
  const lookups = mapGets(() => index.forEachMatch('c' + 'x'.repeat(1023), (v) => { found.push(v) }))
  t.same(found, ['everything'])
  t.ok(lookups < 10, `${lookups} Map lookups for a 1 024-character component`)
  const deep: string[] = []
  const deeper = mapGets(() => index.forEachMatch('com.app.' + 'x'.repeat(1000), (v) => { deep.push(v) }))
  t.same(deep, ['everything', 'com', 'app'], 'shortest first')
  t.ok(deeper < 20, `${deeper} Map lookups`)
})

t.test('property: many prefixes at one level still match like a linear scan, shortest first', async (t) => {
  const letters = fc.string({ unit: fc.constantFrom('a', 'b'), maxLength: 6 })
  fc.assert(fc.property(fc.uniqueArray(letters, { maxLength: 20 }), fc.string({ unit: fc.constantFrom('a', 'b', '.'), maxLength: 12 }), (prefixes, topic) => {
    const index = new PatternIndex<string>()
    for (const p of prefixes) index.set(p, 'prefix', p)
    const found: string[] = []
    index.forEachMatch(topic, (v) => { found.push(v) })
    const expected = prefixes.filter((p) => topic.startsWith(p)).sort((a, b) => a.length - b.length)
    return JSON.stringify(found) === JSON.stringify(expected) && index.best(topic) === expected[expected.length - 1]
  }), { numRuns: 2000 })
})

t.test('over the wire: a 1 000-character topic reaches "" , "com" and exact subscribers, once each', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', broker: true }] })
  const { client: subscriber } = await connectRaw(url)
  const subscriptions: number[] = []
  for (const [id, topic, match] of [[1, '', 'prefix'], [2, 'com', 'prefix'], [3, 'com' + 'x'.repeat(997), 'exact']] as const) {
    subscriber.send([MSG.SUBSCRIBE, id, { match }, topic])
    subscriptions.push((await subscriber.next())[2] as number)
  }
  const { client: publisher } = await connectRaw(url)
  publisher.send([MSG.PUBLISH, 1, { acknowledge: true }, 'com' + 'x'.repeat(997), ['hi']])
  t.equal((await publisher.next())[0], MSG.PUBLISHED)
  const events = [await subscriber.next(), await subscriber.next(), await subscriber.next()]
  t.same(events.map((e) => e[1]).sort(), [...subscriptions].sort())
  await publisher.close()
  await subscriber.close()
})
