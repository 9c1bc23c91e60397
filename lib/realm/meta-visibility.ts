import { ErrorUri } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { sees, visibleTo } from './authorize.js'
import type { Realm } from './realm.js'
import type { Session } from '../session/session.js'
import type { Subscription } from '../pubsub/subscription.js'
import type { Registration } from '../rpc/registry.js'
import type { CallContext } from '../../types/call.js'
import type { MetaEntry } from './meta-events.js'

// What a caller of the Meta API may see. With authorization (an `authorize` hook or `permissions`), a subscription
// only if it may subscribe to all its pattern covers, a registration only if it may call all its pattern covers — the
// rule reflection uses (`visibleTo`). What it may not see is answered exactly like what does not exist: left out of
// lists, null from lookup and match, the same no_such_subscription / no_such_registration error by id. Without
// authorization everything is visible.

/** A subscription's meta events reach whom may see it (as `visibleSubscriptions` decides): may subscribe to all its pattern covers. */
export function subscriptionEntry (subscription: Subscription): MetaEntry {
  return { action: 'subscribe', uri: subscription.topic, match: subscription.match }
}

/** A registration's meta events reach whom may see it (as `visibleRegistrations` decides): may call all its pattern covers. */
export function registrationEntry (registration: Registration): MetaEntry {
  return { action: 'call', uri: registration.uri, match: registration.match }
}

/** The subscriptions of `list` the calling session may see. */
export function visibleSubscriptions (realm: Realm, ctx: CallContext, list: Subscription[]): Promise<Subscription[]> {
  return visibleTo(realm, ctx.session as Session, list, ['subscribe'], (s) => [s.topic, s.match])
}

/** May the calling session see `subscription`? */
export function seesSubscription (realm: Realm, ctx: CallContext, subscription: Subscription): Promise<boolean> {
  return seesEntry(realm, ctx, subscriptionEntry(subscription))
}

/** Subscription `id`, if the calling session may see it; ERROR no_such_subscription otherwise, as for an unknown id. */
export async function subscriptionById (realm: Realm, ctx: CallContext, id: number): Promise<Subscription> {
  const subscription = realm.broker.byId.get(id)
  if (subscription === undefined || !await seesSubscription(realm, ctx, subscription)) {
    throw new WampError(ErrorUri.noSuchSubscription, [`no subscription ${id} in realm "${realm.name}"`])
  }
  return subscription
}

/** The registrations of `list` the calling session may see. */
export function visibleRegistrations (realm: Realm, ctx: CallContext, list: Registration[]): Promise<Registration[]> {
  return visibleTo(realm, ctx.session as Session, list, ['call'], (r) => [r.uri, r.match])
}

/** May the calling session see `registration`? */
export function seesRegistration (realm: Realm, ctx: CallContext, registration: Registration): Promise<boolean> {
  return seesEntry(realm, ctx, registrationEntry(registration))
}

/**
 * May the calling session see a registration (`call`) or subscription (`subscribe`) of `pattern` held on another
 * instance (where only its URI and match policy are known here)? The rule of seesRegistration / seesSubscription.
 */
export function seesPattern (realm: Realm, ctx: CallContext, action: 'call' | 'subscribe', [uri, match]: [uri: string, match: MatchPolicy]): Promise<boolean> {
  return seesEntry(realm, ctx, { action, uri, match })
}

/** May the calling session see what `entry` is about? Everything without authorization. */
async function seesEntry (realm: Realm, ctx: CallContext, entry: MetaEntry): Promise<boolean> {
  const authorizer = realm.authorizer
  return authorizer === undefined || await sees(authorizer, ctx.session as Session, entry.action, entry.uri, entry.match)
}

/** Registration `id`, if the calling session may see it; ERROR no_such_registration otherwise, as for an unknown id. */
export async function registrationById (realm: Realm, ctx: CallContext, id: number): Promise<Registration> {
  const registration = realm.dealer.registry.byId.get(id)
  if (registration === undefined || !await seesRegistration(realm, ctx, registration)) {
    throw new WampError(ErrorUri.noSuchRegistration, [`no registration ${id} in realm "${realm.name}"`])
  }
  return registration
}
