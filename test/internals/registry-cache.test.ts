import { deepStrictEqual } from 'node:assert'
import t from 'tap'
import fc from 'fast-check'
import type { Redis } from 'ioredis'
import { announcement, EVERYTHING, RegistryCache } from '../../lib/cluster/registry-cache.js'

// The registry cache of one instance against a model of Redis: writes of single fields, each announced in order but
// delivered whenever; HGETALLs sent, executed by Redis and answered at any later points, in order. Whatever the
// interleaving, once every announcement has been delivered what the cache keeps is exactly the hash in Redis (or
// nothing) — announcements applied in place, and those crossing a read replayed on it.

const HASH = 'P:rpc:pat:realm1'
const FIELDS = ['i1:1:1', 'i1:2:2', 'i2:3:3', 'i2:4:4']

type Action =
  /** A write announced as what it changed ('entry'), as '*' (a sweep, a rewrite) or as the bare hash (an older instance). */
  | { kind: 'write', field: number, created: number | null, as: 'entry' | 'everything' | 'bare' }
  | { kind: 'deliver' } | { kind: 'lookup' } | { kind: 'execute' } | { kind: 'reply' } | { kind: 'forget' }

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      field: fc.nat(FIELDS.length - 1),
      created: fc.option(fc.nat(3)),
      as: fc.constantFrom('entry' as const, 'entry' as const, 'entry' as const, 'everything' as const, 'bare' as const)
    })
  },
  { weight: 4, arbitrary: fc.constant({ kind: 'deliver' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'lookup' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'execute' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'reply' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'forget' as const }) }
)

const valueOf = (created: number, field: string): string => JSON.stringify([created, 1, 'roundrobin', 'prefix', `p.${field}`])
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** The hash as Redis holds it, in the order lookups list it (registration time, then field). */
function expected (state: Map<string, number>): string[] {
  return [...state].sort((x, y) => x[1] - y[1] || (x[0] < y[0] ? -1 : 1)).map(([field]) => field)
}

t.test('property: once every announcement is delivered, the cache holds exactly the hash in Redis, or nothing', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(action, { maxLength: 60 }), fc.boolean(), async (actions, keeping) => {
    const state = new Map<string, number>()
    const announcements: string[] = []
    const sent: Array<(values: Record<string, string>) => void> = []
    const executed: Array<() => void> = []
    const redis = { hgetall: () => new Promise<Record<string, string>>((resolve) => { sent.push(resolve) }) } as unknown as Redis
    const cache = new RegistryCache(() => keeping)
    const check = (): void => {
      if (announcements.length > 0) return
      const kept = cache.get(HASH)
      if (kept !== undefined) deepStrictEqual(kept.map((c) => c.field), expected(state), 'kept = Redis')
    }
    const execute = (): void => {
      const resolve = sent.shift()
      if (resolve === undefined) return
      const values = Object.fromEntries([...state].map(([field, created]) => [field, valueOf(created, field)]))
      executed.push(() => resolve(values))
    }
    for (const a of actions) {
      switch (a.kind) {
        case 'write': {
          const field = FIELDS[a.field]
          if (a.created === null) state.delete(field)
          else state.set(field, a.created)
          const entry = announcement(HASH, field, a.created === null ? undefined : valueOf(a.created, field))
          announcements.push(a.as === 'entry' ? entry : a.as === 'everything' ? EVERYTHING : HASH)
          break
        }
        case 'deliver': if (announcements.length > 0) cache.changed(announcements.shift() as string); break
        case 'lookup': cache.read(redis, HASH).catch(() => {}); break
        case 'execute': execute(); break
        case 'reply': executed.shift()?.(); await tick(); break
        case 'forget': cache.forget(); break
      }
      check()
    }
    while (sent.length > 0) execute()
    while (executed.length > 0) { executed.shift()?.(); await tick() }
    while (announcements.length > 0) cache.changed(announcements.shift() as string)
    check()
    // A lookup now is answered from the cache, or reads Redis again: either way it lists what Redis holds.
    const read = cache.read(redis, HASH)
    execute()
    executed.shift()?.()
    deepStrictEqual((await read).map((c) => c.field), expected(state), 'a lookup lists what Redis holds')
  }), { numRuns: 300 })
  t.pass('300 interleavings')
})

t.test('announcements that do not parse drop what they concern; other hashes are untouched', async (t) => {
  const reads: string[] = []
  const redis = { hgetall: async (key: string) => { reads.push(key); return { 'i1:1:1': valueOf(1, 'a') } } } as unknown as Redis
  const cache = new RegistryCache(() => true)
  await cache.read(redis, 'h1')
  await cache.read(redis, 'h2')
  cache.changed('+\nh1\ni1:2:2\nnot json')
  t.equal(cache.get('h1'), undefined, 'h1 dropped')
  t.ok(cache.get('h2') !== undefined, 'h2 kept')
  cache.changed('+\nh2\ni1:2:2\n' + valueOf(0, 'b'))
  t.same(cache.get('h2')?.map((c) => c.field), ['i1:2:2', 'i1:1:1'], 'in place, in registration order')
  cache.changed('-\nh2\ni1:2:2')
  t.same(cache.get('h2')?.map((c) => c.field), ['i1:1:1'])
  t.same(reads, ['h1', 'h2'], 'no re-read')
})
