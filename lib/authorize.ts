import { isDict, MessageType as T } from './messages.js'
import type { Details, WampMessage } from './messages.js'
import { ErrorUri, isValidUri, matchesWildcard } from './uris.js'
import type { MatchPolicy } from './uris.js'
import { WampError } from './wamp-error.js'
import { isThenable } from './call.js'
import { FST_WAMP_INVALID_OPTION } from './errors.js'
import type { Session } from './session.js'
import type { Realm } from './realm.js'

// Authorization (spec "Authorization"): may this session's principal perform this action on this URI (or URI
// pattern)? Declarative role permissions first, then the application's hook; both must allow.

export type AuthorizeAction = 'call' | 'register' | 'subscribe' | 'publish'

/**
 * Decides whether `session` may perform `action` on `uri` (for register/subscribe possibly a pattern: see
 * `options.match`). Answer `true` to allow; anything else denies. Throw a WampError to deny with your own error.
 */
export type AuthorizeHook = (session: Session, action: AuthorizeAction, uri: string, options: Details) => boolean | Promise<boolean>

/** One rule: the actions allowed on the URIs it matches. The most specific rule wins (exact > longest prefix > wildcard). */
export interface Permission {
  uri: string
  /** How `uri` matches: default `exact`; `prefix` with `uri: ''` matches everything. */
  match?: MatchPolicy
  allow: AuthorizeAction[]
}

/** Rules by authrole. A role that is not listed may do nothing. */
export type Permissions = Record<string, Permission[]>

const ACTIONS: Record<AuthorizeAction, number> = { call: 1, register: 2, subscribe: 4, publish: 8 }

interface WildcardRule { readonly parts: string[], readonly mask: number }

/** One role's rules, resolved once: exact URIs in a map, prefixes longest first, wildcards in the order given. */
class RoleRules {
  private readonly exact: Map<string, number>
  private readonly prefixes: Array<{ readonly uri: string, readonly mask: number }>
  private readonly wildcards: WildcardRule[]

  constructor (rules: Permission[]) {
    this.exact = new Map()
    this.prefixes = []
    this.wildcards = []
    for (const rule of rules) {
      let mask = 0
      for (const action of rule.allow) mask |= ACTIONS[action]
      const match = rule.match ?? 'exact'
      if (match === 'exact') this.exact.set(rule.uri, mask)
      else if (match === 'prefix') this.prefixes.push({ uri: rule.uri, mask })
      else this.wildcards.push({ parts: rule.uri.split('.'), mask })
    }
    this.prefixes.sort((a, b) => b.uri.length - a.uri.length)
  }

  /**
   * The actions allowed on `uri` requested with `match`. A pattern request is only covered by a rule whose URIs
   * include all of the pattern's: an exact rule covers only exact requests, a wildcard rule no prefix requests.
   */
  mask (uri: string, match: unknown): number {
    if (match === undefined || match === 'exact') {
      const exact = this.exact.get(uri)
      if (exact !== undefined) return exact
    }
    for (const p of this.prefixes) if (uri.startsWith(p.uri)) return p.mask
    if (match !== 'prefix') for (const w of this.wildcards) if (matchesWildcard(w.parts, uri)) return w.mask
    return 0
  }
}

/** A realm's authorization, resolved once. `realm.authorizer` is undefined when there is none (zero cost). */
export class Authorizer {
  private readonly hook: AuthorizeHook | undefined
  private readonly roles: Map<string, RoleRules> | undefined

  constructor (hook: AuthorizeHook | undefined, permissions: Permissions | undefined) {
    this.hook = hook
    this.roles = permissions === undefined
      ? undefined
      : new Map(Object.entries(permissions).map(([role, rules]) => [role, new RoleRules(rules)]))
  }

  static compile (hook: AuthorizeHook | undefined, permissions: Permissions | undefined): Authorizer | undefined {
    return hook === undefined && permissions === undefined ? undefined : new Authorizer(hook, permissions)
  }

  /** True/false, or a promise of it when the hook is async. Throws what the hook throws. */
  check (session: Session, action: AuthorizeAction, uri: string, options: Details): boolean | Promise<boolean> {
    if (this.roles !== undefined) {
      const rules = this.roles.get(session.authrole)
      if (rules === undefined || (rules.mask(uri, options.match) & ACTIONS[action]) === 0) return false
    }
    return this.hook === undefined ? true : this.hook(session, action, uri, options)
  }
}

/**
 * Authorizes a client request, then dispatches it again as authorized, or answers ERROR not_authorized (the
 * handler never runs). While an async hook decides, the session reads nothing more, so the messages after this
 * one are handled in order once it has.
 */
export function authorize (session: Session, msg: WampMessage, action: AuthorizeAction, uri: string, options: Details): void {
  const authorizer = (session.realm as Realm).authorizer as Authorizer
  let answer: boolean | Promise<boolean>
  try {
    answer = authorizer.check(session, action, uri, options)
  } catch (err) {
    return deny(session, msg, action, uri, err)
  }
  if (!isThenable(answer)) return decide(session, msg, action, uri, answer)
  session.hold()
  answer.then(
    (allowed) => settled(session, msg, action, uri, allowed, undefined),
    (err: unknown) => settled(session, msg, action, uri, false, err ?? new Error('authorize rejected with no reason'))
  )
}

function settled (session: Session, msg: WampMessage, action: AuthorizeAction, uri: string, allowed: unknown, err: unknown): void {
  try {
    if (session.isOpen) {
      if (err === undefined) decide(session, msg, action, uri, allowed)
      else deny(session, msg, action, uri, err)
    }
  } catch (error) {
    session.log.error({ err: error }, 'fastify-wamp: authorized request failed')
  }
  session.release()
}

function decide (session: Session, msg: WampMessage, action: AuthorizeAction, uri: string, allowed: unknown): void {
  if (allowed !== true) return deny(session, msg, action, uri, undefined)
  const realm = session.realm as Realm
  switch (msg[0]) {
    case T.CALL: return realm.dealer.call(session, msg, true)
    case T.REGISTER: return realm.dealer.register(session, msg, true)
    case T.SUBSCRIBE: return realm.broker.subscribe(session, msg, true)
    case T.PUBLISH: return realm.broker.publishFrom(session, msg, true)
  }
}

function deny (session: Session, msg: WampMessage, action: AuthorizeAction, uri: string, err: unknown): void {
  const type = msg[0] as number
  const requestId = msg[1] as number
  session.log.debug({ action, uri, authrole: session.authrole }, 'fastify-wamp: not authorized')
  if (err !== undefined && !(err instanceof WampError)) session.log.error({ err }, 'fastify-wamp: authorize hook failed')
  // An unacknowledged PUBLISH has no answer to carry the refusal (spec): it is dropped.
  if (type === T.PUBLISH && (msg[2] as Details).acknowledge !== true) return
  if (err instanceof WampError) return session.sendError(type, requestId, err.uri, err.args, err.kwargs)
  session.sendError(type, requestId, ErrorUri.notAuthorized, [`not authorized to ${action} "${uri}"`])
}

// ---- option checks (register time) -------------------------------------------------------------------------

function invalid (message: string): never {
  throw new FST_WAMP_INVALID_OPTION(message)
}

/** Validates a realm's `authorize` and `permissions` options with messages that name the option. */
export function checkAuthorizeOptions (authorize: unknown, permissions: unknown, where: string): void {
  if (authorize !== undefined && typeof authorize !== 'function') invalid(`${where} authorize must be a function`)
  if (permissions === undefined) return
  if (!isDict(permissions)) invalid(`${where} permissions must be an object of rule lists by authrole`)
  for (const [role, rules] of Object.entries(permissions)) {
    const at = `${where} permissions["${role}"]`
    if (!Array.isArray(rules)) invalid(`${at} must be a list of { uri, match?, allow }`)
    rules.forEach((rule: unknown, i: number) => {
      if (!isDict(rule)) invalid(`${at}[${i}] must be an object { uri, match?, allow }`)
      const match = rule.match ?? 'exact'
      if (match !== 'exact' && match !== 'prefix' && match !== 'wildcard') invalid(`${at}[${i}].match must be exact, prefix or wildcard`)
      const uri = rule.uri
      if (typeof uri !== 'string' || !(isValidUri(uri, match) || (match === 'prefix' && uri === ''))) {
        invalid(`${at}[${i}].uri ${JSON.stringify(uri)} is not a valid ${match} URI`)
      }
      const allow = rule.allow
      if (!Array.isArray(allow) || allow.some((a) => typeof a !== 'string' || !Object.hasOwn(ACTIONS, a))) {
        invalid(`${at}[${i}].allow must be a list of call, register, subscribe, publish`)
      }
    })
  }
}
