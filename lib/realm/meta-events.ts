import { EMPTY } from '../wire/messages.js'
import type { Details } from '../wire/messages.js'
import type { MatchPolicy } from '../wire/uris.js'
import { randomId } from '../wire/ids.js'
import { isThenable } from '../thenable.js'
import { deliver } from '../pubsub/delivery.js'
import type { Subscription } from '../pubsub/subscription.js'
import type { Session } from '../session/session.js'
import { sees } from './authorize.js'
import type { Authorizer, AuthorizeAction } from './authorize.js'
import type { Realm } from './realm.js'

// Meta events in a realm with authorization (docs/meta-api.md, "What a caller sees"): an event about a registration
// or subscription reaches a subscriber only if that subscriber may see the entry — the rule of the meta procedures
// (`seesRegistration`/`seesSubscription`). Answers that are synchronous (permissions, a sync hook) deliver at once;
// while an async hook decides, the subscriber's later meta events wait behind it, so each subscriber gets them in
// the order they happened. Realms without authorization never come here (broker.publishLocal, encoded once).

/** Meta events waiting, per subscriber, while a hook decides; past it the subscriber misses the newer ones. */
export const MAX_PENDING_META_EVENTS = 1000

/** What an event is about: the subscriber must be allowed `action` on every URI that (`uri`, `match`) covers. */
export interface MetaEntry {
  readonly action: AuthorizeAction
  readonly uri: string
  readonly match: MatchPolicy
}

/** One EVENT for one subscriber: `visible` undefined while the hook decides. */
interface Pending {
  readonly subscription: Subscription
  readonly publicationId: number
  readonly details: Details
  readonly args: unknown[]
  visible: boolean | undefined
}

/** A subscriber's meta events from the first undecided one on, in order. */
interface Backlog {
  readonly events: Pending[]
  /** Events were left out because the backlog was full (logged once until it drains). */
  overflowed: boolean
}

export class MetaEvents {
  private readonly realm: Realm
  private readonly authorizer: Authorizer
  /** Only subscribers with an undecided event have a backlog; it is removed when it drains. */
  private readonly backlogs: Map<Session, Backlog>

  constructor (realm: Realm, authorizer: Authorizer) {
    this.realm = realm
    this.authorizer = authorizer
    this.backlogs = new Map()
  }

  /**
   * Publishes a meta event to this instance's subscribers of `topic`: those that may see `entry`, or all of them
   * when it names none (session events), each in the order of its meta events.
   */
  publish (topic: string, args: unknown[], entry?: MetaEntry): void {
    if (entry === undefined && this.backlogs.size === 0) {
      this.realm.broker.publishLocal(topic, args)
      return
    }
    const publicationId = randomId()
    for (const subscription of this.realm.broker.matching(topic)) {
      const details = subscription.match === 'exact' ? EMPTY : { topic }
      for (const session of subscription.sessions) {
        if (!session.isOpen) continue
        const backlog = this.backlogs.get(session)
        if (backlog !== undefined && backlog.events.length >= MAX_PENDING_META_EVENTS) {
          overflow(session, backlog)
          continue
        }
        const visible = entry === undefined ? true : sees(this.authorizer, session, entry.action, entry.uri, entry.match)
        if (backlog === undefined && !isThenable(visible)) {
          if (visible) deliver(this.realm.counters, subscription, publicationId, details, args, undefined, session, undefined)
          continue
        }
        const pending: Pending = { subscription, publicationId, details, args, visible: isThenable(visible) ? undefined : visible }
        this.hold(session, backlog, pending, visible)
      }
    }
  }

  /** `session` left `subscription`: the events held for it there are not sent (nor after a new SUBSCRIBE). */
  forget (session: Session, subscription: Subscription): void {
    const backlog = this.backlogs.get(session)
    if (backlog === undefined) return
    const events = backlog.events
    let kept = 0
    for (const pending of events) if (pending.subscription !== subscription) events[kept++] = pending
    events.length = kept
    this.flush(session)
  }

  /** Queues `pending` behind `session`'s undecided events; flushes when the hook has answered. */
  private hold (session: Session, backlog: Backlog | undefined, pending: Pending, visible: boolean | Promise<boolean>): void {
    if (backlog === undefined) {
      backlog = { events: [], overflowed: false }
      this.backlogs.set(session, backlog)
    }
    backlog.events.push(pending)
    if (!isThenable(visible)) return
    const decided = (answer: boolean): void => {
      pending.visible = answer
      try {
        this.flush(session)
      } catch (err) {
        session.log.error({ err }, 'fastify-wamp: meta event delivery failed')
      }
    }
    visible.then(decided, () => { decided(false) })
  }

  /** Sends (or skips, if hidden) the decided events at the head of `session`'s backlog; removes it once empty. */
  private flush (session: Session): void {
    const backlog = this.backlogs.get(session)
    if (backlog === undefined) return
    const events = backlog.events
    let decided = 0
    while (decided < events.length && events[decided].visible !== undefined) decided++
    const ready = events.splice(0, decided)
    if (events.length === 0) this.backlogs.delete(session)
    for (const { subscription, publicationId, details, args, visible } of ready) {
      if (visible === true) deliver(this.realm.counters, subscription, publicationId, details, args, undefined, session, undefined)
    }
  }
}

/** The backlog is full: the event is not sent to `session` (it may not be allowed to see it); logged once until it drains. */
function overflow (session: Session, backlog: Backlog): void {
  if (backlog.overflowed) return
  backlog.overflowed = true
  session.log.warn({ max: MAX_PENDING_META_EVENTS }, 'fastify-wamp: meta events not sent to this subscriber: too many waiting for the authorize hook')
}
