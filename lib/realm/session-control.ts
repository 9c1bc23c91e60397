import Type from 'typebox'
import { CloseUri, ErrorUri, isValidUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import type { Realm } from './realm.js'
import type { Session } from '../session/session.js'
import type { RemoteSessionInfo, SessionFilter } from '../cluster/registry.js'

// Session control (spec "Session Meta API": wamp.session.kill, kill_by_authid, kill_by_authrole, kill_all) for
// clients (meta procedures, with `metaApi: true`) and the application (`realm.killByAuthid()` …). A killed session
// gets GOODBYE with the reason (default wamp.close.killed) and the message in Details, then its socket closes.
// With cluster-wide RPC (`RedisFanout({ rpc: true })`) the sessions of the realm on the other instances are killed
// too: the cluster registry lists them by realm, authid and authrole (one set read, the size of what is killed), and
// a KILL goes to each one's instance.

export interface KillOptions {
  /** GOODBYE.Reason; a valid URI. Default `wamp.close.killed`. */
  reason?: string
  /** GOODBYE.Details.message; omitted by default. */
  message?: string
}

/** Whether `filter` (all, or an authid or an authrole: what the cluster's session sets are kept by) picks `session`. */
function selects (filter: SessionFilter, session: Session): boolean {
  return filter === undefined || ('authid' in filter ? session.authid === filter.authid : session.authrole === filter.authrole)
}

/** The reason of `options`, checked: a TypeError for the app, ERROR invalid_uri for a client. */
function reasonOf (options: KillOptions | undefined, client: boolean): string {
  const reason = options?.reason ?? CloseUri.killed
  if (isValidUri(reason) && (options?.message === undefined || typeof options.message === 'string')) return reason
  if (client && !isValidUri(reason)) throw new WampError(ErrorUri.invalidUri, [`reason "${String(reason)}" is not a valid URI`])
  if (client) throw new WampError(ErrorUri.invalidArgument, ['message must be a string'])
  throw new TypeError(!isValidUri(reason) ? `kill: reason "${String(reason)}" is not a valid URI` : 'kill: message must be a string')
}

/**
 * Kills the realm's sessions that `select` picks — on this instance, and with cluster-wide RPC on the others —
 * except `except` (the caller of a meta procedure). Resolves with the ids of the sessions killed.
 */
export async function killWhere (realm: Realm, select: SessionFilter, options: KillOptions | undefined, except?: Session, client = false): Promise<number[]> {
  const reason = reasonOf(options, client)
  const killed: number[] = []
  for (const session of [...realm.sessions.values()]) {
    if (session === except || !session.isOpen || !selects(select, session)) continue
    killed.push(session.id)
    session.kill(reason, options?.message)
  }
  const cluster = realm.cluster
  if (cluster === undefined || !cluster.up) return killed
  let remote: Array<{ instance: string, id: number }>
  try {
    remote = await cluster.sessionsWhere(realm.name, select)
  } catch (err) {
    // The local kills are done; say which, and that the other instances were not reached.
    throw new WampError(ErrorUri.networkFailure, [`killed ${killed.length} session(s) on this instance; the other instances could not be reached: ${(err as Error).message}`], { killed })
  }
  for (const info of remote) {
    if (info.id === except?.id) continue
    killed.push(info.id)
    cluster.control.kill(info.instance, realm.name, info.id, reason, options?.message)
  }
  return killed
}

/**
 * Kills one session of the realm, here or on another instance. False when there is no such session in this realm
 * (or it is `except`).
 */
export async function killOne (realm: Realm, id: number, options: KillOptions | undefined, except?: Session, client = false): Promise<boolean> {
  const reason = reasonOf(options, client)
  const local = realm.sessions.get(id)
  if (local !== undefined) {
    if (local === except || !local.isOpen) return false
    local.kill(reason, options?.message)
    return true
  }
  const cluster = realm.cluster
  if (cluster === undefined || !cluster.up) return false
  const info: RemoteSessionInfo | undefined = await cluster.session(id)
  if (info === undefined || info.realm !== realm.name) return false
  cluster.control.kill(info.instance, realm.name, id, reason, options?.message)
  return true
}

const KillKwargs = Type.Object({ reason: Type.Optional(Type.String()), message: Type.Optional(Type.String()) })

/** The kill meta procedures (registered by `enableMetaApi`). */
export function registerSessionControl (realm: Realm): void {
  realm.register('wamp.session.kill', { args: Type.Tuple([Type.Integer({ minimum: 1 })]), kwargs: KillKwargs }, async ([id], kwargs, ctx) => {
    // The caller's own id is "no other session with that ID" (spec).
    if (!await killOne(realm, id, kwargs, ctx.session as Session, true)) {
      throw new WampError(ErrorUri.noSuchSession, [`no session ${id} in realm "${realm.name}"`])
    }
  })
  realm.register('wamp.session.kill_by_authid', { args: Type.Tuple([Type.String()]), kwargs: KillKwargs },
    async ([authid], kwargs, ctx) => await killWhere(realm, { authid }, kwargs, ctx.session as Session, true))
  realm.register('wamp.session.kill_by_authrole', { args: Type.Tuple([Type.String()]), kwargs: KillKwargs },
    async ([authrole], kwargs, ctx) => (await killWhere(realm, { authrole }, kwargs, ctx.session as Session, true)).length)
  realm.register('wamp.session.kill_all', { args: Type.Tuple([]), kwargs: KillKwargs },
    async (_args, kwargs, ctx) => (await killWhere(realm, undefined, kwargs, ctx.session as Session, true)).length)
}
