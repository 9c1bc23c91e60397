import { isDict, MessageType as T } from '../wire/messages.js'
import type { Details, WampMessage } from '../wire/messages.js'
import { ErrorUri, isMatchPolicy, isValidUri, matchesWildcard } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { INVOKE_POLICIES } from './registry.js'
import type { ClientRegistration, InvokePolicy, Registration } from './registry.js'
import { routeCall } from './routed-call.js'
import { callThroughCluster } from '../cluster/cluster-call.js'
import { FST_WAMP_INVALID_OPTION } from '../errors.js'
import type { Dealer } from './dealer.js'
import type { Session } from '../session/session.js'
import type { WampSession } from '../../types/session.js'

// Router mode (realm option `router`): clients call each other. A client's REGISTER that the `allow` rules admit
// makes the procedure callable by the realm's other clients (shared and pattern registrations included); a client
// CALL that no application procedure answers goes to it.

/** Decides, at REGISTER, whether a client's procedure is offered to the other clients. */
export type RouterAllow = (uri: string, session: WampSession, options: Details) => boolean

/** One allow rule: procedures under `uri` (a prefix by default), registered by sessions of `roles` (default: any). */
export interface RouterRule {
  uri: string
  /** How `uri` covers the registered procedure: `prefix` (default; `''` covers everything), `exact` or `wildcard`. */
  match?: MatchPolicy
  roles?: string[]
}

export interface RouterOptions {
  /**
   * Which client registrations are offered to the other clients: URI prefixes, rules by URI and role, or a
   * function. Default: all. The others stay private — only the application calls them (`session.call()`).
   */
  allow?: Array<string | RouterRule> | RouterAllow
}

export class Router {
  private readonly dealer: Dealer
  private readonly allow: RouterAllow | undefined

  private constructor (dealer: Dealer, allow: RouterAllow | undefined) {
    this.dealer = dealer
    this.allow = allow
  }

  /** Resolves the realm option `router` once, at register time; undefined when router mode is off. */
  static compile (dealer: Dealer, realm: string, option: boolean | RouterOptions | undefined): Router | undefined {
    if (option === undefined || option === false) return undefined
    if (option === true) return new Router(dealer, undefined)
    if (!isDict(option) || Object.keys(option).some((k) => k !== 'allow')) invalid(realm)
    const allow = option.allow
    if (allow === undefined) return new Router(dealer, undefined)
    if (typeof allow === 'function') return new Router(dealer, allow as RouterAllow)
    if (!Array.isArray(allow)) invalid(realm)
    const rules = allow.map((rule) => compileRule(realm, rule))
    return new Router(dealer, (uri, session, options) => rules.some((covers) => covers(uri, options.match ?? 'exact', session.authrole)))
  }

  /** Is this REGISTER offered to the other clients? (A failing rule function logs and keeps it private.) */
  admits (session: Session, uri: string, options: Details): boolean {
    if (this.allow === undefined) return true
    try {
      return this.allow(uri, session, options) === true
    } catch (err) {
      session.log.error({ err, procedure: uri }, 'fastify-wamp: router allow rule failed; the registration stays private')
      return false
    }
  }

  /** A routed REGISTER (already validated, authorized and within limits): shared registration rules apply. */
  register (session: Session, requestId: number, uri: string, match: MatchPolicy, options: Details): void {
    const invoke = (options.invoke ?? 'single') as InvokePolicy
    if (!INVOKE_POLICIES.has(invoke)) {
      return session.sendError(T.REGISTER, requestId, ErrorUri.invalidArgument, [`unknown invocation policy "${String(invoke)}"`])
    }
    const dealer = this.dealer
    // A CALL reaches the application's procedure first, so a registration it would shadow could never be called.
    if (dealer.has(uri, match) || (match === 'exact' && dealer.lookup(uri) !== undefined)) {
      return session.sendError(T.REGISTER, requestId, ErrorUri.procedureAlreadyExists, [`"${uri}" is a procedure of the application`])
    }
    const existing = dealer.registry.find(uri, match)
    if (existing !== undefined) {
      if (existing.invoke === 'single') {
        return session.sendError(T.REGISTER, requestId, ErrorUri.procedureAlreadyExists, [`"${uri}" is already registered`])
      }
      if (existing.invoke !== invoke) {
        return session.sendError(T.REGISTER, requestId, ErrorUri.procedureExistsWithDifferentInvocationPolicy,
          [`"${uri}" is registered with invoke "${existing.invoke}"; a registration with invoke "${invoke}" cannot join it`])
      }
    }
    dealer.attach(session, requestId, existing ?? dealer.registry.create(uri, match, invoke, true), options)
  }

  /** A client CALL that no application procedure answers (`wamp.*` belongs to the router, never to a client). */
  call (session: Session, msg: WampMessage, uri: string): void {
    const registration = uri.startsWith('wamp.') ? undefined : this.dealer.registry.lookup(uri)
    const cluster = this.dealer.realm.cluster
    if (cluster !== undefined && !uri.startsWith('wamp.') && this.clusterWide(registration)) {
      return callThroughCluster(session, msg, uri, cluster, this.dealer.realm.name, registration !== undefined)
    }
    const callee = registration?.pick()
    if (registration === undefined || callee === undefined) {
      return session.sendError(T.CALL, msg[1] as number, ErrorUri.noSuchProcedure, [`no procedure "${uri}" is registered`])
    }
    routeCall(session, msg, uri, registration, callee)
  }

  /** The callee the application's `call(uri)` reaches, by pattern precedence and invocation policy. */
  pick (uri: string): ClientRegistration | undefined {
    return this.dealer.registry.lookup(uri)?.pick()
  }

  /**
   * With cluster-wide RPC, does a call go through the cluster registry? When no local registration takes it (while
   * Redis is down that fails with network_failure), and while Redis is up for shared exact registrations (the
   * policy then counts every instance's callees). Otherwise the local registration answers, as without a cluster.
   */
  clusterWide (registration: Registration | undefined): boolean {
    const cluster = this.dealer.realm.cluster
    if (cluster === undefined) return false
    if (registration === undefined) return true
    return cluster.up && registration.invoke !== 'single' && registration.match === 'exact'
  }
}

type Covers = (uri: string, match: unknown, role: string) => boolean

/**
 * A rule covers a registration when every URI the registration can be called with is under the rule: a prefix
 * rule covers whatever starts with it, an exact rule only that exact URI, a wildcard rule exact and wildcard
 * registrations it matches component by component (an empty component of the rule matches anything).
 */
function compileRule (realm: string, rule: unknown): Covers {
  if (typeof rule === 'string' && rule.length > 0) return (uri) => uri.startsWith(rule)
  if (!isDict(rule) || Object.keys(rule).some((key) => key !== 'uri' && key !== 'match' && key !== 'roles')) invalid(realm)
  const match = rule.match ?? 'prefix'
  const uri = rule.uri
  if (!isMatchPolicy(match) || typeof uri !== 'string' || !isValidUri(uri, match as MatchPolicy)) {
    throw new FST_WAMP_INVALID_OPTION(`realm "${realm}": router rule ${JSON.stringify(rule)} needs a valid uri for match exact, prefix or wildcard`)
  }
  const roles = rule.roles
  if (roles !== undefined && (!Array.isArray(roles) || roles.some((r) => typeof r !== 'string'))) {
    throw new FST_WAMP_INVALID_OPTION(`realm "${realm}": router rule roles must be a list of authroles`)
  }
  const allowed = roles === undefined ? undefined : new Set(roles as string[])
  const parts = uri.split('.')
  return (procedure, registered, role) => {
    if (allowed !== undefined && !allowed.has(role)) return false
    if (match === 'prefix') return procedure.startsWith(uri)
    if (match === 'exact') return registered === 'exact' && procedure === uri
    return registered !== 'prefix' && matchesWildcard(parts, procedure)
  }
}

function invalid (realm: string): never {
  throw new FST_WAMP_INVALID_OPTION(`realm "${realm}": router must be true, false or { allow: [URI prefixes or { uri, match?, roles? }] | (uri, session, options) => boolean }`)
}
