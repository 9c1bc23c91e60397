import { matchesWildcard } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import type { Session } from '../session/session.js'
import type { HeldEvents } from './retention.js'

/** A subscription: one (topic, match) in the realm, shared by every session that subscribed to it. */
export class Subscription {
  readonly id: number
  readonly topic: string
  readonly match: MatchPolicy
  readonly parts: string[] | undefined
  readonly sessions: Set<Session>
  /** ISO 8601 time of creation (meta API). */
  readonly created: string
  /** Until the fan-out engine confirms it: settles then (sessions wait for it before SUBSCRIBED). */
  confirming: PromiseLike<void> | undefined
  /** Sessions waiting for `confirming`. */
  waiting: number
  /** Sessions whose retained events are being fetched, with the EVENTs held back for them meanwhile. */
  awaiting: Map<Session, HeldEvents> | undefined

  constructor (id: number, topic: string, match: MatchPolicy) {
    this.id = id
    this.created = new Date().toISOString()
    this.topic = topic
    this.match = match
    this.parts = match === 'wildcard' ? topic.split('.') : undefined
    this.sessions = new Set()
    this.confirming = undefined
    this.waiting = 0
    this.awaiting = undefined
  }

  matches (topic: string): boolean {
    if (this.match === 'prefix') return topic.startsWith(this.topic)
    return matchesWildcard(this.parts as string[], topic)
  }
}
