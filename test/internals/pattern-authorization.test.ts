import t from 'tap'
import fc from 'fast-check'
import { RoleRules } from '../../lib/realm/authorize.js'
import type { Permission } from '../../lib/realm/authorize.js'
import { matchesWildcard } from '../../lib/wire/uris.js'
import type { MatchPolicy } from '../../lib/wire/uris.js'

// issue 15: a pattern SUBSCRIBE/REGISTER is allowed only if every URI it covers is allowed. The coverage function
// is compared with brute force over a finite universe rich enough to hold a witness for every denial: the rules and
// patterns use components a and b; the universe adds the extensions ax and bx (a prefix ending in a partial `a`
// matches them), a fresh component z, and one more component than the deepest rule.

const COMPONENTS = ['a', 'b', 'ax', 'bx', 'z']
const UNIVERSE: string[] = []
for (let depth = 1, level = ['']; depth <= 4; depth++) {
  level = level.flatMap((head) => COMPONENTS.map((c) => head === '' ? c : `${head}.${c}`))
  UNIVERSE.push(...level)
}

const exactUri = fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 3 }).map((p) => p.join('.'))
// A prefix is any string prefix of an exact URI (so it may end with `.` or in the middle of a component), or ''.
const prefixUri = exactUri.chain((uri) => fc.integer({ min: 0, max: uri.length }).map((n) => uri.slice(0, n)))
  .filter((p) => !p.endsWith('..'))
const wildcardUri = fc.array(fc.constantFrom('a', 'b', ''), { minLength: 1, maxLength: 3 }).map((p) => p.join('.'))
  .filter((w) => w !== '')

const pattern = fc.oneof(
  prefixUri.map((uri) => ({ uri, match: 'prefix' as MatchPolicy })),
  wildcardUri.map((uri) => ({ uri, match: 'wildcard' as MatchPolicy })),
  exactUri.map((uri) => ({ uri, match: 'exact' as MatchPolicy }))
)
const rule = fc.record({
  uri: fc.constant(''),
  pattern,
  allow: fc.subarray(['subscribe', 'call'] as Array<'subscribe' | 'call'>)
}).map(({ pattern, allow }): Permission => ({ uri: pattern.uri, match: pattern.match, allow }))

function covers (uri: string, match: MatchPolicy, candidate: string): boolean {
  if (match === 'exact') return candidate === uri
  if (match === 'prefix') return candidate.startsWith(uri)
  return matchesWildcard(uri.split('.'), candidate)
}

const SUBSCRIBE = 4

t.test('issue 15: pattern coverage agrees with brute force over a finite universe', async (t) => {
  let allowedCases = 0
  fc.assert(fc.property(fc.array(rule, { maxLength: 6 }), pattern, (rules, p) => {
    const role = new RoleRules(rules)
    const brute = UNIVERSE.every((u) => !covers(p.uri, p.match, u) || (role.mask(u) & SUBSCRIBE) !== 0)
    if (brute) allowedCases++
    return role.allows(p.uri, p.match, SUBSCRIBE) === brute
  }), { numRuns: 3000 })
  t.ok(allowedCases > 100, `both answers occur (${allowedCases} allowed of 3000)`)
})

t.test('issue 15: the examples of the issue', async (t) => {
  const user = new RoleRules([
    { uri: 'app.', match: 'prefix', allow: ['call', 'subscribe'] },
    { uri: 'app.admin.', match: 'prefix', allow: [] },
    { uri: 'app.secret', allow: [] }
  ])
  t.notOk(user.allows('app.', 'prefix', SUBSCRIBE), 'prefix app. would receive app.admin.* events')
  t.ok(user.allows('app.news.', 'prefix', SUBSCRIBE))
  t.notOk(user.allows('app..x', 'wildcard', SUBSCRIBE), 'app.admin.x is covered')
  t.notOk(user.allows('app.', 'wildcard', SUBSCRIBE), 'the wildcard app. matches app.secret')
  t.ok(user.allows('app.a.', 'wildcard', SUBSCRIBE))
  t.notOk(user.allows('app.sec', 'prefix', SUBSCRIBE), 'string prefix: covers app.secret')
  const meta = new RoleRules([
    { uri: '', match: 'prefix', allow: ['subscribe'] },
    { uri: 'wamp.', match: 'prefix', allow: [] }
  ])
  t.notOk(meta.allows('wam', 'prefix', SUBSCRIBE), 'wam covers wamp.*')
  t.notOk(meta.allows('', 'prefix', SUBSCRIBE), 'everything covers wamp.*')
  t.ok(meta.allows('wampx', 'prefix', SUBSCRIBE), 'wampx does not reach wamp.*')
  t.ok(meta.allows('app', 'prefix', SUBSCRIBE))
  const shadowed = new RoleRules([
    { uri: 'a.b', match: 'prefix', allow: ['subscribe'] },
    { uri: 'a..c', match: 'wildcard', allow: [] }
  ])
  t.ok(shadowed.allows('a.b', 'prefix', SUBSCRIBE), 'the wildcard rule overlaps, but the prefix rule outranks it there')
  t.notOk(shadowed.allows('a..c', 'wildcard', SUBSCRIBE), 'it decides a.x.c')
  t.ok(shadowed.allows('a.bc', 'prefix', SUBSCRIBE) && shadowed.allows('a.b.', 'prefix', SUBSCRIBE), 'both start with a.b')
})

t.test('issue 15: the table in docs/auth.md "How patterns are authorized"', async (t) => {
  const user = new RoleRules([
    { uri: 'app.', match: 'prefix', allow: ['call', 'subscribe'] },
    { uri: 'app.admin.', match: 'prefix', allow: [] },
    { uri: 'app.chat.post', allow: ['publish'] },
    { uri: 'sensor..status', match: 'wildcard', allow: ['subscribe'] }
  ])
  const table: Array<[string, MatchPolicy, boolean]> = [
    ['app.news.', 'prefix', true], ['app.', 'prefix', false], ['app.ad', 'prefix', false], ['ap', 'prefix', false],
    ['app..log', 'wildcard', false], ['sensor..status', 'wildcard', true], ['sensor.', 'prefix', false], ['', 'prefix', false]
  ]
  for (const [uri, match, allowed] of table) t.equal(user.allows(uri, match, SUBSCRIBE), allowed, `${match} "${uri}"`)
  const device = new RoleRules([
    { uri: 'com.dev.', match: 'prefix', allow: ['register'] },
    { uri: 'com.dev.lamp.', match: 'prefix', allow: [] }
  ])
  t.notOk(device.allows('com.dev.', 'prefix', 2))
  t.ok(device.allows('com.dev.fan.', 'prefix', 2))
})
