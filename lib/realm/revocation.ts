import Type from 'typebox'
import { MessageType as T } from '../wire/messages.js'
import type { Details } from '../wire/messages.js'
import { ErrorUri } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import type { Realm } from './realm.js'
import type { Session } from '../session/session.js'
import type { ClusterRpc } from '../cluster/rpc.js'
import type { CallContext } from '../../types/call.js'
import { registrationById, seesPattern, seesRegistration, seesSubscription, subscriptionById } from './meta-visibility.js'

// Registration and subscription revocation (spec "Registration Revocation", "Subscription Revocation"): the router
// ends a client's registration or subscription. A client that announced `registration_revocation` (callee) /
// `subscription_revocation` (subscriber) in HELLO gets `[UNREGISTERED, 0, {registration, reason?}]` /
// `[UNSUBSCRIBED, 0, {subscription, reason?}]`; the others get nothing (spec: MUST NOT). The meta events
// (`on_unregister`/`on_delete`, `on_unsubscribe`/`on_delete`) and the onUnregister/onUnsubscribe hooks follow
// either way.
//
// Invocations of a revoked registration already in flight are not interrupted: the callee may still answer them
// (as after its own UNREGISTER); no new call reaches it.

/** Revokes `session`'s registration `id`; false when it holds none with that id. */
export function revokeRegistration (session: Session, id: number, reason?: string): boolean {
  const callee = session.registrations.get(id)
  if (callee === undefined || session.joined === undefined) return false
  session.joined.dealer.drop(callee)
  if (session.announces('callee', 'registration_revocation')) {
    const details: Details = { registration: id }
    if (reason !== undefined) details.reason = reason
    session.send([T.UNREGISTERED, 0, details])
  }
  return true
}

/** The URI and match policy of `session`'s registration (or subscription) `id`, if it holds one. */
export function heldPattern (session: Session, subscription: boolean, id: number): [string, MatchPolicy] | undefined {
  if (!subscription) {
    const callee = session.registrations.get(id)
    return callee === undefined ? undefined : [callee.uri, callee.match]
  }
  for (const s of session.subscriptions) if (s.id === id) return [s.topic, s.match]
  return undefined
}

/** Revokes `session`'s subscription `id`; false when it holds none with that id. */
export function revokeSubscription (session: Session, id: number, reason?: string): boolean {
  if (session.joined === undefined) return false
  let subscription
  for (const s of session.subscriptions) if (s.id === id) subscription = s
  if (subscription === undefined) return false
  session.joined.broker.drop(session, subscription)
  if (session.announces('subscriber', 'subscription_revocation')) {
    const details: Details = { subscription: id }
    if (reason !== undefined) details.reason = reason
    session.send([T.UNSUBSCRIBED, 0, details])
  }
  return true
}

const Reason = Type.Optional(Type.String())
const Id = Type.Integer({ minimum: 1 })
const Kwargs = Type.Object({ reason: Reason })

/** `args[0..ids)` as ids (ERROR invalid_argument otherwise). */
function idsOf (args: unknown[], ids: number): number[] {
  const found = args.slice(0, ids)
  if (!found.every((id) => Number.isSafeInteger(id) && (id as number) > 0)) throw new WampError(ErrorUri.invalidArgument, ['ids must be positive integers'])
  return found as number[]
}

function reasonOf (args: unknown[], index: number, kwargs: { reason?: string }): string | undefined {
  const positional = args[index]
  if (positional !== undefined && positional !== null && typeof positional !== 'string') {
    throw new WampError(ErrorUri.invalidArgument, ['reason must be a string'])
  }
  return kwargs.reason ?? (positional ?? undefined) as string | undefined
}

/**
 * Session `id` of `realm` on another instance (with cluster-wide RPC, as `wamp.session.kill` finds it), with the
 * cluster to reach it; ERROR no_such_session when there is none (or no cluster RPC, or Redis is down).
 */
async function remoteSession (realm: Realm, id: number): Promise<{ cluster: ClusterRpc, instance: string }> {
  const cluster = realm.cluster
  const info = cluster === undefined || !cluster.up ? undefined : await cluster.session(id)
  if (cluster === undefined || info === undefined || info.realm !== realm.name) {
    throw new WampError(ErrorUri.noSuchSession, [`no session ${id} in realm "${realm.name}"`])
  }
  return { cluster, instance: info.instance }
}

/**
 * The revocation meta procedures: Crossbar's `wamp.registration.remove_callee(registration, callee, reason?)` and
 * `wamp.subscription.remove_subscriber(subscription, subscriber, reason?)`, and `wamp.registration.remove(registration,
 * reason?)` / `wamp.subscription.remove(subscription, reason?)` for every callee / subscriber at once (they return
 * the ids of the sessions removed).
 *
 * With cluster-wide RPC, `remove_callee` / `remove_subscriber` of a session on another instance ask that session's
 * instance what it holds under the id (registration and subscription ids are per instance: the ids its client got
 * there), decide here what the caller may see, as for a local session, then send the revocation there (fire and
 * forget, as `RemoteSession.revokeRegistration()`). `remove` of every callee /
 * subscriber acts on this instance's sessions only (its id names this instance's registration or subscription).
 */
export function registerRevocation (realm: Realm): void {
  const withReason = (ids: number): { args: ReturnType<typeof Type.Array>, kwargs: typeof Kwargs } => ({
    args: Type.Array(Type.Union([Id, Type.String(), Type.Null()]), { minItems: ids, maxItems: ids + 1 }),
    kwargs: Kwargs
  })
  realm.register('wamp.registration.remove_callee', withReason(2), async (args, kwargs, ctx) => {
    const [registration, callee] = idsOf(args, 2)
    const reason = reasonOf(args, 2, kwargs)
    const session = realm.sessions.get(callee)
    const revoked = session === undefined
      ? await revokeRemote(realm, ctx, callee, false, registration, reason)
      : !await hiddenRegistration(realm, ctx, registration) && revokeRegistration(session, registration, reason)
    if (!revoked) {
      throw new WampError(ErrorUri.noSuchRegistration, [`session ${callee} has no registration ${registration}`])
    }
  })
  realm.register('wamp.subscription.remove_subscriber', withReason(2), async (args, kwargs, ctx) => {
    const [subscription, subscriber] = idsOf(args, 2)
    const reason = reasonOf(args, 2, kwargs)
    const session = realm.sessions.get(subscriber)
    const revoked = session === undefined
      ? await revokeRemote(realm, ctx, subscriber, true, subscription, reason)
      : !await hiddenSubscription(realm, ctx, subscription) && revokeSubscription(session, subscription, reason)
    if (!revoked) {
      throw new WampError(ErrorUri.noSuchSubscription, [`session ${subscriber} has no subscription ${subscription}`])
    }
  })
  realm.register('wamp.registration.remove', withReason(1), async (args, kwargs, ctx) => {
    const [id] = idsOf(args, 1)
    const registration = await registrationById(realm, ctx, id)
    const reason = reasonOf(args, 1, kwargs)
    const removed = registration.callees.map((c) => c.session)
    for (const session of removed) revokeRegistration(session, id, reason)
    return removed.map((s) => s.id)
  })
  realm.register('wamp.subscription.remove', withReason(1), async (args, kwargs, ctx) => {
    const [id] = idsOf(args, 1)
    const subscription = await subscriptionById(realm, ctx, id)
    const reason = reasonOf(args, 1, kwargs)
    const removed = [...subscription.sessions]
    for (const session of removed) revokeSubscription(session, id, reason)
    return removed.map((s) => s.id)
  })
}

/**
 * Revokes registration (`subscription` false) or subscription `id` of `sessionId` on another instance: that instance
 * says what the session holds under `id`, the caller's visibility decides here as for a local session, then the
 * revocation goes there. False when the session holds no such id, or the caller may not see it.
 */
async function revokeRemote (realm: Realm, ctx: CallContext, sessionId: number, subscription: boolean, id: number, reason: string | undefined): Promise<boolean> {
  const { cluster, instance } = await remoteSession(realm, sessionId)
  const held = await cluster.control.describe(instance, realm.name, sessionId, subscription, id)
  if (held === undefined || !await seesPattern(realm, ctx, subscription ? 'subscribe' : 'call', held)) return false
  if (subscription) cluster.control.revokeSubscription(instance, realm.name, sessionId, id, reason)
  else cluster.control.revokeRegistration(instance, realm.name, sessionId, id, reason)
  return true
}

/** Registration `id` exists here but the caller may not see it (lib/realm/meta-visibility.ts): answered as not held. */
async function hiddenRegistration (realm: Realm, ctx: CallContext, id: number): Promise<boolean> {
  const registration = realm.dealer.registry.byId.get(id)
  return registration !== undefined && !await seesRegistration(realm, ctx, registration)
}

async function hiddenSubscription (realm: Realm, ctx: CallContext, id: number): Promise<boolean> {
  const subscription = realm.broker.byId.get(id)
  return subscription !== undefined && !await seesSubscription(realm, ctx, subscription)
}
