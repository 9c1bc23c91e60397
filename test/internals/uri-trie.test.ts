import t from 'tap'
import fc from 'fast-check'
import { compareRuns, literalRuns, PatternIndex } from '../../lib/wire/uri-trie.js'
import type { PatternMatch } from '../../lib/wire/uri-trie.js'
import { matchesWildcard } from '../../lib/wire/uris.js'

// issue 15: the pattern index finds exactly what a linear scan finds, in the spec's precedence, and removing
// every pattern leaves it empty.

const component = fc.constantFrom('a', 'b', 'ab', 'ba', 'com', 'myapp', 'myapp2')
const uri = fc.array(component, { minLength: 1, maxLength: 4 }).map((p) => p.join('.'))
const prefix = uri.chain((u) => fc.integer({ min: 0, max: u.length }).map((n) => u.slice(0, n))).filter((p) => !p.endsWith('..'))
const wildcard = fc.array(fc.oneof(component, fc.constant('')), { minLength: 1, maxLength: 4 }).map((p) => p.join('.')).filter((w) => w !== '')
const entry = fc.oneof(
  prefix.map((p) => `prefix:${p}`),
  wildcard.map((w) => `wildcard:${w}`)
)

function split (key: string): [PatternMatch, string] {
  const i = key.indexOf(':')
  return [key.slice(0, i) as PatternMatch, key.slice(i + 1)]
}

function naiveMatches (key: string, u: string): boolean {
  const [match, pattern] = split(key)
  return match === 'prefix' ? u.startsWith(pattern) : matchesWildcard(pattern.split('.'), u)
}

function naiveBest (keys: string[], u: string): string | undefined {
  const matching = keys.filter((k) => naiveMatches(k, u))
  const prefixes = matching.filter((k) => k.startsWith('prefix:')).sort((a, b) => b.length - a.length)
  if (prefixes.length > 0) return prefixes[0]
  return matching.sort((a, b) => compareRuns(literalRuns(split(a)[1]), literalRuns(split(b)[1])))[0]
}

t.test('issue 15: the pattern index matches like a linear scan', async (t) => {
  fc.assert(fc.property(fc.uniqueArray(entry, { maxLength: 30 }), fc.array(uri, { minLength: 1, maxLength: 10 }), (keys, uris) => {
    const index = new PatternIndex<string>()
    for (const key of keys) index.set(split(key)[1], split(key)[0], key)
    if (index.size !== keys.length) return false
    for (const u of uris) {
      const found: string[] = []
      index.forEachMatch(u, (v) => found.push(v))
      const expected = keys.filter((k) => naiveMatches(k, u))
      if (found.length !== expected.length || !expected.every((k) => found.includes(k))) return false
      if (index.best(u) !== naiveBest(keys, u)) return false
      const prefixes = found.filter((k) => k.startsWith('prefix:'))
      if (prefixes.some((k, i) => i > 0 && k.length < prefixes[i - 1].length)) return false
    }
    for (const key of keys) {
      const [match, pattern] = split(key)
      if (index.get(pattern, match) !== key || !index.delete(pattern, match) || index.delete(pattern, match)) return false
    }
    return index.size === 0 && uris.every((u) => index.best(u) === undefined)
  }), { numRuns: 1000 })
  t.pass('a thousand random pattern sets agree')
})

t.test('issue 15: prefix matching is by string, not by component', async (t) => {
  const index = new PatternIndex<string>()
  index.set('com.myapp', 'prefix', 'string')
  index.set('com.myapp.', 'prefix', 'component')
  index.set('', 'prefix', 'everything')
  const found: string[] = []
  index.forEachMatch('com.myapp2.foo', (v) => found.push(v))
  t.same(found, ['everything', 'string'])
  t.equal(index.best('com.myapp.foo'), 'component')
})

t.test('issue 21: values() lists every pattern once, after any sets and deletes', async (t) => {
  fc.assert(fc.property(fc.uniqueArray(entry, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 15 }), (keys, drops) => {
    const index = new PatternIndex<string>()
    for (const key of keys) index.set(split(key)[1], split(key)[0], key)
    const kept = new Set(keys)
    for (const d of drops) {
      if (keys.length === 0) break
      const key = keys[d % keys.length]
      index.delete(split(key)[1], split(key)[0])
      kept.delete(key)
    }
    const listed = [...index.values()]
    return listed.length === kept.size && listed.length === index.size && listed.every((k) => kept.has(k))
  }), { numRuns: 500 })
  t.pass('five hundred random pattern sets list what they hold')
})
