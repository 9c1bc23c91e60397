import Type from 'typebox'
import { packStored, unpackStored } from '../wire/serializers/msgpack.js'
import { isDict } from '../wire/messages.js'
import type { Details, Kwargs } from '../wire/messages.js'
import { ErrorUri, isValidUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { randomId } from '../wire/ids.js'
import { readPublishOptions } from '../pubsub/publish-filter.js'
import type { Realm } from '../realm/realm.js'
import { allowed } from '../realm/authorize.js'
import type { Authorizer } from '../realm/authorize.js'
import type { Session } from './session.js'

// Session testaments (spec "Session Testament"): `wamp.session.add_testament` / `flush_testaments`. A testament is
// a publication the session makes in advance; the router publishes it when the session ends, however it ends
// (GOODBYE, ABORT, dropped socket, kill, shutdown) — `detached` ones first, then `destroyed` ones (there is no
// session resumption, so both happen at the same moment), each scope in the order they were added.
//
// It is authorized as a PUBLISH by that session when it is added (realm `broker` rule, `permissions`,
// `authorize`), and published as that session would publish it: the publish options are read with its id, authid
// and authrole (`disclose_me`, `exclude_*`/`eligible_*`). Offered only where client PUBLISHes reach clients (realm
// option `broker`) and the Meta API is on.
//
// With cluster-wide RPC the testaments are also kept in Redis, in one hash per instance
// (P rpc:testaments:<instance>, field = session id): when an instance dies, the survivor that claims its entries
// (the registry's SET NX lock) publishes them.

/** Most testaments one session may hold, both scopes together. */
export const MAX_TESTAMENTS = 16

export type TestamentScope = 'destroyed' | 'detached'

interface Testament {
  scope: TestamentScope
  topic: string
  args: unknown[] | undefined
  kwargs: Kwargs | undefined
  /** PUBLISH.Options as given in `publish_options` (without `acknowledge`). */
  options: Details
  bytes: number
}

/** What a testament is published as: the session it speaks for. */
interface Testator { id: number, authid: string, authrole: string }

interface Will { list: Testament[], bytes: number }

const wills = new WeakMap<Session, Will>()

const Scope = Type.Optional(Type.Union([Type.Literal('destroyed'), Type.Literal('detached')]))

/** Registers the testament meta procedures on a realm that brokers client publications, and announces them. */
export function registerTestaments (realm: Realm): void {
  if (realm.broker.allow === undefined) return
  realm.register('wamp.session.add_testament', {
    args: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 3 }),
    kwargs: Type.Object({ publish_options: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])), scope: Scope })
  }, async (args, kwargs, ctx) => { await add(realm, ctx.session as Session, args, kwargs.publish_options ?? {}, kwargs.scope ?? 'destroyed') })
  realm.register('wamp.session.flush_testaments', { args: Type.Tuple([]), kwargs: Type.Object({ scope: Scope }) }, (_args, kwargs, ctx) => {
    const session = ctx.session as Session
    const will = wills.get(session)
    if (will === undefined) return
    const scope = kwargs.scope ?? 'destroyed'
    will.list = will.list.filter((t) => t.scope !== scope)
    will.bytes = will.list.reduce((sum, t) => sum + t.bytes, 0)
    save(session, will)
  })
  ;((realm.roles.dealer as Details).features as Details).testament_meta_api = true
}

async function add (realm: Realm, session: Session, args: unknown[], publishOptions: Record<string, unknown>, scope: TestamentScope): Promise<void> {
  // Read before any await: `portable` describes the frame being handled (this CALL).
  if (!session.portable) throw new WampError(ErrorUri.invalidArgument, ['an integer beyond 2^53 (bignum) cannot reach subscribers of every serializer'])
  const [topic, list, dict] = args
  if (!isValidUri(topic) || topic.startsWith('wamp.')) throw new WampError(ErrorUri.invalidUri, [`"${String(topic)}" is not a valid topic URI`])
  if (list != null && !Array.isArray(list)) throw new WampError(ErrorUri.invalidArgument, ['args must be a list'])
  if (dict != null && !isDict(dict)) throw new WampError(ErrorUri.invalidArgument, ['kwargs must be a dict'])
  // Own properties only: a `__proto__` key must not become the options' prototype (fromEntries defines, never sets).
  const options: Details = Object.fromEntries(Object.entries(publishOptions).filter(([key, value]) => key !== 'acknowledge' && value !== undefined))
  const read = readPublishOptions(session, options)
  if (typeof read === 'string') throw new WampError(ErrorUri.invalidArgument, [read])
  if (!realm.broker.brokers(topic, session)) throw new WampError(ErrorUri.notAuthorized, [`publications to "${topic}" do not reach clients in this realm`])
  const id = session.id
  if (realm.authorizer !== undefined && await allowed(session, () => (realm.authorizer as Authorizer).check(session, 'publish', topic, options)) !== true) {
    throw new WampError(ErrorUri.notAuthorized, [`not authorized to publish "${topic}"`])
  }
  // Ended while the authorization decided (its testaments are out already): nothing to add to.
  if (!session.isOpen || session.id !== id) return
  const will = wills.get(session) ?? { list: [], bytes: 0 }
  if (will.list.length >= MAX_TESTAMENTS) throw new WampError(ErrorUri.limitExceeded, [`at most ${MAX_TESTAMENTS} testaments per session`])
  const testament: Testament = { scope, topic, args: (list ?? undefined) as unknown[] | undefined, kwargs: (dict ?? undefined) as Kwargs | undefined, options, bytes: 0 }
  testament.bytes = packStored([topic, testament.args, testament.kwargs, options]).length
  const max = session.hub.options.maxPayload
  if (will.bytes + testament.bytes > max) throw new WampError(ErrorUri.limitExceeded, [`a session's testaments may take at most ${max} bytes (maxPayload)`])
  will.list.push(testament)
  will.bytes += testament.bytes
  wills.set(session, will)
  save(session, will)
}

/** The session ended: its testaments are published (detached first, then destroyed) and forgotten. */
export function publishTestaments (session: Session, realm: Realm): void {
  const will = wills.get(session)
  if (will === undefined) return
  wills.delete(session)
  session.hub.cluster?.registry.testaments.save(session.id, undefined)
  publishAll(realm, session, will.list)
}

/**
 * A survivor that took this instance for dead (paused, or cut off from Redis, past its heartbeat TTL) published the
 * session's testaments already: they are dropped, so that the session's end does not publish them again.
 */
export function dropTestaments (session: Session): boolean {
  return wills.delete(session)
}

function publishAll (realm: Realm, testator: Testator, list: Testament[]): void {
  for (const scope of ['detached', 'destroyed']) {
    for (const t of list) {
      if (t.scope !== scope) continue
      const publication = readPublishOptions(testator as Session, t.options)
      if (typeof publication !== 'string') realm.broker.forward(t.topic, randomId(), t.args, t.kwargs, publication)
    }
  }
}

/** With cluster-wide RPC, the session's testaments in Redis (none: the entry goes). */
function save (session: Session, will: Will): void {
  session.hub.cluster?.registry.testaments.save(session.id, pack(session, will))
}

function pack (session: Session, will: Will): Buffer | undefined {
  if (will.list.length === 0) return undefined
  return packStored([session.realm.name, session.id, session.authid, session.authrole,
    will.list.map((t) => [t.scope, t.topic, t.args ?? null, t.kwargs ?? null, t.options])])
}

/** The session's testaments as kept in Redis, for the registry's rewrite after a Redis outage. */
export function packedTestaments (session: Session): Buffer | undefined {
  const will = wills.get(session)
  return will === undefined ? undefined : pack(session, will)
}

/** A dead instance's testaments (its Redis hash values), published by this instance, which claimed them. */
export function publishOrphaned (realms: ReadonlyMap<string, Realm>, entries: Buffer[]): number {
  let published = 0
  for (const entry of entries) {
    let realmName: string, id: number, authid: string, authrole: string, list: Array<[TestamentScope, string, unknown[] | null, Kwargs | null, Details]>
    try {
      [realmName, id, authid, authrole, list] = unpackStored(entry) as [string, number, string, string, typeof list]
    } catch {
      continue
    }
    const realm = realms.get(realmName)
    if (realm === undefined || !Array.isArray(list)) continue
    publishAll(realm, { id, authid, authrole }, list.map(([scope, topic, args, kwargs, options]) =>
      ({ scope, topic, args: args ?? undefined, kwargs: kwargs ?? undefined, options, bytes: 0 })))
    published += list.length
  }
  return published
}
