import type { Details } from '../wire/messages.js'
import { matchesWildcard } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { PatternIndex } from '../wire/uri-trie.js'
import { uniqueId } from '../wire/ids.js'
import type { Session } from '../session/session.js'

// The realm's client registrations (REGISTER from a session). A registration is one (procedure, match) with an
// invocation policy and the list of its callees in registration order (spec "Shared Registration"), so its id is
// what every callee's REGISTERED carries and what the meta API lists.
//
// Routed registrations (router mode) are indexed by (uri, match) and reached by other clients' CALLs; private
// ones (no router mode, or outside its `allow` rules) have one callee each and only the application calls them.

/** `REGISTER.Options.invoke`: which callee of a shared registration gets a call. */
export type InvokePolicy = 'single' | 'roundrobin' | 'random' | 'first' | 'last'

export const INVOKE_POLICIES: ReadonlySet<unknown> = new Set(['single', 'roundrobin', 'random', 'first', 'last'])

/** A procedure a client registered on its session. */
export interface ClientRegistration {
  /** The registration id (shared by every callee of a shared registration). */
  readonly id: number
  readonly uri: string
  readonly match: MatchPolicy
  readonly session: Session
  /** REGISTER.Options as the client sent them. */
  readonly options: Details
  /** ISO 8601 time of the REGISTER (meta API). */
  readonly created: string
}

/** One registration: (uri, match), its invocation policy and its callees. */
export class Registration {
  readonly id: number
  readonly uri: string
  readonly match: MatchPolicy
  readonly invoke: InvokePolicy
  /** Reached by other clients' CALLs (router mode); otherwise only the application calls it. */
  readonly routed: boolean
  readonly created: string
  readonly callees: ClientRegistration[]
  readonly parts: string[] | undefined
  /** INVOCATION.Details of a call to `uri` itself that adds nothing to the procedure: shared by all such calls. */
  readonly details: Details
  private turn: number

  constructor (id: number, uri: string, match: MatchPolicy, invoke: InvokePolicy, routed: boolean) {
    this.id = id
    this.uri = uri
    this.match = match
    this.invoke = invoke
    this.routed = routed
    this.created = new Date().toISOString()
    this.callees = []
    this.parts = match === 'wildcard' ? uri.split('.') : undefined
    this.details = Object.freeze({ procedure: uri })
    this.turn = 0
  }

  matches (uri: string): boolean {
    if (this.match === 'exact') return uri === this.uri
    if (this.match === 'prefix') return uri.startsWith(this.uri)
    return matchesWildcard(this.parts as string[], uri)
  }

  /**
   * The callee that gets the next call, by the invocation policy. A callee whose session is already closing (its
   * registrations go when its socket closes) is passed over; undefined when every callee is.
   */
  pick (): ClientRegistration | undefined {
    const callees = this.callees
    const n = callees.length
    switch (this.invoke) {
      case 'roundrobin':
        for (let i = 0; i < n; i++) {
          const callee = callees[this.turn % n]
          this.turn = (this.turn + 1) % n
          if (callee.session.isOpen) return callee
        }
        return undefined
      case 'random': {
        const start = Math.floor(Math.random() * n)
        for (let i = 0; i < n; i++) if (callees[(start + i) % n].session.isOpen) return callees[(start + i) % n]
        return undefined
      }
      case 'last':
        for (let i = n - 1; i >= 0; i--) if (callees[i].session.isOpen) return callees[i]
        return undefined
      default:
        for (let i = 0; i < n; i++) if (callees[i].session.isOpen) return callees[i]
        return undefined
    }
  }

  /** Removes a callee; the round-robin turn keeps pointing at the callee that was next. */
  remove (callee: ClientRegistration): void {
    const i = this.callees.indexOf(callee)
    if (i === -1) return
    this.callees.splice(i, 1)
    if (i < this.turn) this.turn--
    if (this.turn >= this.callees.length) this.turn = 0
  }
}

export class Registry {
  /** Every client registration of the realm, routed or private, by id. */
  readonly byId: Map<number, Registration>
  private readonly exact: Map<string, Registration>
  /** Routed pattern registrations, indexed by URI component (lib/wire/uri-trie.ts). */
  private readonly patterns: PatternIndex<Registration>
  /** Private registrations (always exact) by URI, oldest first: what the application's call(uri) reaches. */
  private readonly privates: Map<string, Registration[]>

  constructor () {
    this.byId = new Map()
    this.exact = new Map()
    this.patterns = new PatternIndex()
    this.privates = new Map()
  }

  /** The routed registration of exactly (uri, match), if any. */
  find (uri: string, match: MatchPolicy): Registration | undefined {
    return match === 'exact' ? this.exact.get(uri) : this.patterns.get(uri, match)
  }

  /**
   * The routed registration a CALL to `uri` reaches (spec "Pattern-based Registrations"): the exact one, else the
   * longest matching prefix, else the wildcard with the longest literal portions before each wildcard.
   */
  lookup (uri: string): Registration | undefined {
    const exact = this.exact.get(uri)
    if (exact !== undefined || this.patterns.size === 0) return exact
    return this.patterns.best(uri)
  }

  /** The oldest open private registration of exactly `uri` (what the application calls without router mode). */
  oldest (uri: string): ClientRegistration | undefined {
    const registrations = this.privates.get(uri)
    if (registrations === undefined) return undefined
    for (const r of registrations) if (r.callees[0].session.isOpen) return r.callees[0]
    return undefined
  }

  /** A new registration with no callee yet; routed ones are indexed for CALL routing. */
  create (uri: string, match: MatchPolicy, invoke: InvokePolicy, routed: boolean): Registration {
    const registration = new Registration(uniqueId(this.byId), uri, match, invoke, routed)
    this.byId.set(registration.id, registration)
    if (!routed) {
      const registrations = this.privates.get(uri)
      if (registrations === undefined) this.privates.set(uri, [registration])
      else registrations.push(registration)
      return registration
    }
    if (match === 'exact') this.exact.set(uri, registration)
    else this.patterns.set(uri, match, registration)
    return registration
  }

  /** Removes a callee; returns its registration and whether that was deleted with its last callee. */
  remove (callee: ClientRegistration): { registration: Registration, deleted: boolean } | undefined {
    const registration = this.byId.get(callee.id)
    if (registration === undefined) return undefined
    registration.remove(callee)
    if (registration.callees.length > 0) return { registration, deleted: false }
    this.byId.delete(registration.id)
    if (registration.routed) {
      if (registration.match === 'exact') this.exact.delete(registration.uri)
      else if (this.patterns.get(registration.uri, registration.match) === registration) this.patterns.delete(registration.uri, registration.match)
    } else {
      const registrations = this.privates.get(registration.uri) as Registration[]
      if (registrations.length === 1) this.privates.delete(registration.uri)
      else registrations.splice(registrations.indexOf(registration), 1)
    }
    return { registration, deleted: true }
  }
}
