import Type from 'typebox'
import { isDict } from '../wire/messages.js'
import type { Details } from '../wire/messages.js'
import { ErrorUri, MATCH_POLICIES } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import type { Realm } from './realm.js'
import type { Session } from '../session/session.js'
import type { Subscription } from '../pubsub/subscription.js'
import type { Registration } from '../rpc/registry.js'
import { registerSessionControl } from './session-control.js'
import { registerTestaments } from '../session/testaments.js'
import { registerRevocation } from './revocation.js'
import { registrationById, registrationEntry, seesRegistration, seesSubscription, subscriptionById, subscriptionEntry, visibleRegistrations, visibleSubscriptions } from './meta-visibility.js'
import type { MetaEntry } from './meta-events.js'
import type { CallContext } from '../../types/call.js'

// The WAMP Meta API (spec "Session Meta API", "Registration Meta API", "Subscription Meta API"), opt-in with
// `metaApi: true`. The meta procedures are ordinary application procedures of each realm, so whatever
// authorization applies to calls (`authorize`, `permissions`) applies to them; the meta events go through the
// realm's broker like any publication, so subscribing to them is authorized like any subscription — and, with
// authorization, an event about a registration or subscription reaches only subscribers that may see it.
//
// Registrations here are client registrations (REGISTER from a session), the only ones with ids on the wire.
// The application's own procedures — and these meta procedures — belong to the router and are not listed.

export const MetaTopic = {
  sessionOnJoin: 'wamp.session.on_join',
  sessionOnLeave: 'wamp.session.on_leave',
  subscriptionOnCreate: 'wamp.subscription.on_create',
  subscriptionOnSubscribe: 'wamp.subscription.on_subscribe',
  subscriptionOnUnsubscribe: 'wamp.subscription.on_unsubscribe',
  subscriptionOnDelete: 'wamp.subscription.on_delete',
  registrationOnCreate: 'wamp.registration.on_create',
  registrationOnRegister: 'wamp.registration.on_register',
  registrationOnUnregister: 'wamp.registration.on_unregister',
  registrationOnDelete: 'wamp.registration.on_delete'
} as const

const NoArgs = { args: Type.Tuple([]) }
const RoleFilter = { args: Type.Union([Type.Tuple([]), Type.Tuple([Type.Union([Type.Array(Type.String()), Type.Null()])])]) }
const ById = { args: Type.Tuple([Type.Integer({ minimum: 1 })]) }
const ByUri = { args: Type.Tuple([Type.String()]) }
const Lookup = {
  args: Type.Union([
    Type.Tuple([Type.String()]),
    Type.Tuple([Type.String(), Type.Object({ match: Type.Optional(Type.Union(MATCH_POLICIES.map((m) => Type.Literal(m)))) })])
  ])
}

/** Registers the meta procedures on `realm` and announces the features in its WELCOME roles. */
export function enableMetaApi (realm: Realm): void {
  registerSessionMeta(realm)
  registerSessionControl(realm)
  registerTestaments(realm)
  registerRevocation(realm)
  registerSubscriptionMeta(realm)
  registerRegistrationMeta(realm)
  const dealer = realm.roles.dealer as { features: Details }
  const broker = realm.roles.broker as { features: Details }
  dealer.features.session_meta_api = true
  broker.features.session_meta_api = true
  dealer.features.registration_meta_api = true
  broker.features.subscription_meta_api = true
}

/** `wamp.session.on_join` to the realm's subscribers (the joining session has not subscribed to anything yet). */
export function publishJoin (session: Session): void {
  publishMeta(session.realm as Realm, MetaTopic.sessionOnJoin, [sessionDetails(session)])
}

/** `wamp.session.on_leave` with [session, authid, authrole]; the leaving session's subscriptions are gone. */
export function publishLeave (session: Session): void {
  publishMeta(session.realm as Realm, MetaTopic.sessionOnLeave, [session.id, session.authid, session.authrole])
}

/** `on_create` (for a new subscription), then `on_subscribe`: `session` became a subscriber of `subscription`. */
export function publishSubscribed (session: Session, subscription: Subscription, created: boolean): void {
  // Not for subscriptions to the meta topics themselves (as Crossbar): a meta listener would hear itself subscribe.
  if (subscription.topic.startsWith('wamp.')) return
  const realm = session.realm as Realm
  const about = subscriptionEntry(subscription)
  if (created) publishMeta(realm, MetaTopic.subscriptionOnCreate, [session.id, subscriptionDetails(subscription)], about)
  publishMeta(realm, MetaTopic.subscriptionOnSubscribe, [session.id, subscription.id], about)
}

/** `on_unsubscribe`, then `on_delete` when `session` was the subscription's last subscriber. */
export function publishUnsubscribed (session: Session, subscription: Subscription, deleted: boolean): void {
  const realm = session.realm as Realm
  // A meta event still waiting for the hook's answer about `session` on this subscription is not sent any more.
  realm.metaEvents?.forget(session, subscription)
  if (subscription.topic.startsWith('wamp.')) return
  const about = subscriptionEntry(subscription)
  publishMeta(realm, MetaTopic.subscriptionOnUnsubscribe, [session.id, subscription.id], about)
  if (deleted) publishMeta(realm, MetaTopic.subscriptionOnDelete, [session.id, subscription.id], about)
}

/** `on_create` (for a new registration), then `on_register`: `session` became a callee of `registration`. */
export function publishRegistered (session: Session, registration: Registration): void {
  const realm = session.realm as Realm
  const about = registrationEntry(registration)
  if (registration.callees.length === 1) publishMeta(realm, MetaTopic.registrationOnCreate, [session.id, registrationDetails(registration)], about)
  publishMeta(realm, MetaTopic.registrationOnRegister, [session.id, registration.id], about)
}

/** `on_unregister`, then `on_delete` when `session` was the registration's last callee. */
export function publishUnregistered (session: Session, registration: Registration, deleted: boolean): void {
  const realm = session.realm as Realm
  const about = registrationEntry(registration)
  publishMeta(realm, MetaTopic.registrationOnUnregister, [session.id, registration.id], about)
  if (deleted) publishMeta(realm, MetaTopic.registrationOnDelete, [session.id, registration.id], about)
}

/**
 * A meta event to this instance's subscribers; with authorization, one `about` an entry reaches only the subscribers
 * that may see the entry (lib/realm/meta-events.ts).
 */
function publishMeta (realm: Realm, topic: string, args: unknown[], about?: MetaEntry): void {
  const events = realm.metaEvents
  if (events === undefined) realm.broker.publishLocal(topic, args)
  else events.publish(topic, args, about)
}

export function sessionDetails (session: Session): Details {
  return {
    session: session.id,
    authid: session.authid,
    authrole: session.authrole,
    authmethod: session.authmethod,
    authprovider: session.authprovider,
    transport: { type: session.transport.kind, protocol: session.protocol }
  }
}

// ---- sessions --------------------------------------------------------------------------------------------

function sessionsOf (realm: Realm, filter: unknown): Session[] {
  const roles = Array.isArray(filter) ? new Set(filter as string[]) : undefined
  const found: Session[] = []
  for (const session of realm.sessions.values()) {
    if (session.isOpen && (roles === undefined || roles.has(session.authrole))) found.push(session)
  }
  return found
}

function registerSessionMeta (realm: Realm): void {
  realm.register('wamp.session.count', RoleFilter, (args) => sessionsOf(realm, args[0]).length)
  realm.register('wamp.session.list', RoleFilter, (args) => sessionsOf(realm, args[0]).map((s) => s.id))
  realm.register('wamp.session.get', ById, ([id]) => {
    const session = realm.sessions.get(id)
    if (session === undefined || !session.isOpen) throw new WampError(ErrorUri.noSuchSession, [`no session ${id} in realm "${realm.name}"`])
    return sessionDetails(session)
  })
}

// ---- subscriptions ---------------------------------------------------------------------------------------

function subscriptionDetails (s: Subscription): Details {
  return { id: s.id, created: s.created, uri: s.topic, match: s.match }
}

function registerSubscriptionMeta (realm: Realm): void {
  const broker = realm.broker
  realm.register('wamp.subscription.list', NoArgs, async (_args, _kwargs, ctx) => {
    const lists: Record<MatchPolicy, number[]> = { exact: [], prefix: [], wildcard: [] }
    for (const s of await visibleSubscriptions(realm, ctx, [...broker.byId.values()])) lists[s.match].push(s.id)
    return lists
  })
  realm.register('wamp.subscription.lookup', Lookup, async (args, _kwargs, ctx) => {
    const match = matchOf(args[1])
    for (const s of broker.byId.values()) {
      if (s.topic === args[0] && s.match === match) return await seesSubscription(realm, ctx, s) ? s.id : null
    }
    return null
  })
  realm.register('wamp.subscription.match', ByUri, async ([topic], _kwargs, ctx) => {
    const ids = (await visibleSubscriptions(realm, ctx, broker.matching(topic))).map((s) => s.id)
    return ids.length === 0 ? null : ids
  })
  realm.register('wamp.subscription.get', ById, async ([id], _kwargs, ctx) => subscriptionDetails(await subscriptionById(realm, ctx, id)))
  realm.register('wamp.subscription.list_subscribers', ById, async ([id], _kwargs, ctx) => [...(await subscriptionById(realm, ctx, id)).sessions].map((s) => s.id))
  realm.register('wamp.subscription.count_subscribers', ById, async ([id], _kwargs, ctx) => (await subscriptionById(realm, ctx, id)).sessions.size)
}

// ---- registrations ---------------------------------------------------------------------------------------

function registrationDetails (r: Registration): Details {
  return { id: r.id, created: r.created, uri: r.uri, match: r.match, invoke: r.invoke }
}

/**
 * The registration of (uri, match): the routed one (router mode: one per URI and match), else the oldest private
 * one (without router mode each session registers separately; the first one found is shown).
 */
function registrationOf (realm: Realm, uri: string, match: MatchPolicy): Registration | undefined {
  const registry = realm.dealer.registry
  const routed = registry.find(uri, match)
  if (routed !== undefined) return routed
  for (const r of registry.byId.values()) if (r.uri === uri && r.match === match) return r
  return undefined
}

function registerRegistrationMeta (realm: Realm): void {
  const registry = realm.dealer.registry
  /** The id of `found` if the caller may see it, else null. */
  const idIfVisible = async (ctx: CallContext, found: Registration | undefined): Promise<number | null> =>
    found !== undefined && await seesRegistration(realm, ctx, found) ? found.id : null
  realm.register('wamp.registration.list', NoArgs, async (_args, _kwargs, ctx) => {
    const lists: Record<MatchPolicy, number[]> = { exact: [], prefix: [], wildcard: [] }
    for (const r of await visibleRegistrations(realm, ctx, [...registry.byId.values()])) lists[r.match].push(r.id)
    return lists
  })
  realm.register('wamp.registration.lookup', Lookup, async (args, _kwargs, ctx) => await idIfVisible(ctx, registrationOf(realm, args[0], matchOf(args[1]))))
  // The registration a client CALL would reach (the application's own procedures aside).
  realm.register('wamp.registration.match', ByUri, async ([uri], _kwargs, ctx) => await idIfVisible(ctx, registry.lookup(uri) ?? registrationOf(realm, uri, 'exact')))
  realm.register('wamp.registration.get', ById, async ([id], _kwargs, ctx) => registrationDetails(await registrationById(realm, ctx, id)))
  realm.register('wamp.registration.list_callees', ById, async ([id], _kwargs, ctx) => (await registrationById(realm, ctx, id)).callees.map((c) => c.session.id))
  realm.register('wamp.registration.count_callees', ById, async ([id], _kwargs, ctx) => (await registrationById(realm, ctx, id)).callees.length)
}

function matchOf (options: unknown): MatchPolicy {
  return isDict(options) && typeof options.match === 'string' ? options.match as MatchPolicy : 'exact'
}
