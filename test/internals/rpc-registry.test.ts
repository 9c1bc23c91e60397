import t from 'tap'
import fc from 'fast-check'
import { Registry } from '../../lib/rpc/registry.js'
import type { ClientRegistration, Registration } from '../../lib/rpc/registry.js'
import type { Session } from '../../lib/session/session.js'

// Registry.oldest(uri): the oldest private registration of exactly `uri` whose session is open — what the
// application's call(uri) reaches without router mode. It is looked up by URI (it scanned every registration of the
// realm per call); a model keeps the old linear answer over any sequence of registrations, removals and closings.

type Op =
  | { kind: 'register', uri: string, routed: boolean }
  | { kind: 'unregister', pick: number }
  | { kind: 'close', pick: number }

const URIS = ['a', 'b', 'c']
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('register' as const), uri: fc.constantFrom(...URIS), routed: fc.boolean() }),
  fc.record({ kind: fc.constant('unregister' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('close' as const), pick: fc.nat() })
)

t.test('oldest(uri) is the first open private registration of uri in registration order, whatever happened before', async (t) => {
  fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
    const registry = new Registry()
    const live: Array<{ registration: Registration, callee: ClientRegistration, session: { isOpen: boolean } }> = []
    for (const o of ops) {
      if (o.kind === 'register') {
        // Routed registrations of a URI are shared (one per URI); private ones are one per REGISTER.
        const existing = o.routed ? registry.find(o.uri, 'exact') : undefined
        const registration = existing ?? registry.create(o.uri, 'exact', o.routed ? 'roundrobin' : 'single', o.routed)
        const session = { isOpen: true }
        const callee = { id: registration.id, uri: o.uri, match: 'exact', session: session as unknown as Session, options: {}, created: '' } satisfies ClientRegistration
        registration.callees.push(callee)
        live.push({ registration, callee, session })
      } else if (live.length > 0) {
        const i = o.pick % live.length
        if (o.kind === 'close') live[i].session.isOpen = false
        else {
          registry.remove(live[i].callee)
          live.splice(i, 1)
        }
      }
      for (const uri of URIS) {
        const expected = live.find((l) => !l.registration.routed && l.registration.uri === uri && l.session.isOpen)?.callee
        if (registry.oldest(uri) !== expected) return false
      }
    }
    return true
  }), { numRuns: 300 })
  t.pass('the index answers as the scan did')
})
