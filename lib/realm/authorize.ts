import { isDict, MessageType as T } from '../wire/messages.js'
import type { Details, WampMessage } from '../wire/messages.js'
import { ErrorUri, isValidUri, matchesWildcard } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { isThenable } from '../thenable.js'
import { FST_WAMP_INVALID_OPTION } from '../errors.js'
import { hold, release } from '../session/inbox.js'
import type { Session } from '../session/session.js'
import type { Realm } from './realm.js'
import type { WampSession } from '../../types/session.js'
import { peerLog } from '../session/peer-log.js'

// Authorization (spec "Authorization"): may this session's principal perform this action on this URI (or URI
// pattern)? Declarative role permissions first, then the application's hook; both must allow.

export type AuthorizeAction = 'call' | 'register' | 'subscribe' | 'publish'

/**
 * Decides whether `session` may perform `action` on `uri`. For a CALL or PUBLISH, `uri` is one exact URI and
 * `options` has no `match` (the client's `match` on CALL and PUBLISH is ignored). Whenever `options.match` is
 * `prefix` or `wildcard` — a pattern SUBSCRIBE or REGISTER, and also `call`/`subscribe` asked by reflection and the
 * Meta API about a pattern registration or subscription — `uri` is a pattern: allow it only if you would allow every
 * URI it can match (see docs/auth.md, "How patterns are authorized"). Answer `true` to allow; anything else denies.
 * Throw a WampError to deny with your own error.
 */
export type AuthorizeHook = (session: WampSession, action: AuthorizeAction, uri: string, options: Details) => boolean | Promise<boolean>

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

/**
 * How many URIs one pattern check may try before it gives up and denies (fail closed). Only a rule set with many
 * wildcard rules whose literals sit at different positions comes near it.
 */
const COVERAGE_BUDGET = 20_000
/** Pattern decisions remembered per role (cleared when full). */
const DECIDED_MAX = 4096

interface WildcardRule { readonly parts: string[], readonly mask: number }

/**
 * The URIs a rule or pattern matches, component by component: position i holds `lits[i]` exactly if that is
 * defined, else any component starting with `pres[i]` (`''` = any). `open`: any further components may follow.
 */
interface Shape { readonly lits: Array<string | undefined>, readonly pres: string[], readonly open: boolean }

function shapeOf (uri: string, match: MatchPolicy): Shape {
  const parts = uri.split('.')
  const lits: Array<string | undefined> = []
  const pres: string[] = []
  parts.forEach((part, i) => {
    const partial = match === 'prefix' && i === parts.length - 1
    lits.push(partial || part === '' ? undefined : part)
    pres.push(partial ? part : '')
  })
  return { lits, pres, open: match === 'prefix' }
}

function admits (shape: Shape, i: number, component: string): boolean {
  if (i >= shape.lits.length) return shape.open
  const lit = shape.lits[i]
  return lit !== undefined ? component === lit : component.startsWith(shape.pres[i])
}

/** One role's rules, resolved once: exact URIs in a map, prefixes longest first, wildcards in the order given. (Exported for tests.) */
export class RoleRules {
  private readonly exact: Map<string, number>
  private readonly prefixes: Array<{ readonly uri: string, readonly mask: number }>
  private readonly wildcards: WildcardRule[]
  private readonly shapes: Shape[]
  /** A character no rule contains: a component made with it stands for "any other component". */
  private readonly fresh: string
  /** Pattern decisions already made (a client re-subscribing in a loop costs one Map lookup), bounded. */
  private readonly decided: Map<string, boolean>

  constructor (rules: Permission[]) {
    this.exact = new Map()
    this.prefixes = []
    this.wildcards = []
    this.shapes = []
    for (const rule of rules) {
      let mask = 0
      for (const action of rule.allow) mask |= ACTIONS[action]
      const match = rule.match ?? 'exact'
      if (match === 'exact') this.exact.set(rule.uri, mask)
      else if (match === 'prefix') this.prefixes.push({ uri: rule.uri, mask })
      else this.wildcards.push({ parts: rule.uri.split('.'), mask })
      this.shapes.push(shapeOf(rule.uri, match))
    }
    this.prefixes.sort((a, b) => b.uri.length - a.uri.length)
    let code = 1
    while (rules.some((r) => r.uri.includes(String.fromCharCode(code)))) code++
    this.fresh = String.fromCharCode(code)
    this.decided = new Map()
  }

  /** The actions allowed on the exact URI `uri`: the most specific rule decides. */
  mask (uri: string): number {
    const exact = this.exact.get(uri)
    if (exact !== undefined) return exact
    for (const p of this.prefixes) if (uri.startsWith(p.uri)) return p.mask
    for (const w of this.wildcards) if (matchesWildcard(w.parts, uri)) return w.mask
    return 0
  }

  /**
   * Whether `action` is allowed on every URI the pattern (`uri`, `match`) covers. The URIs are infinitely many, but
   * the rules only tell a component apart by equality with their literals and by the prefixes it starts with, so
   * one representative per distinguishable case is enough: each literal and prefix the pattern or a rule (still
   * matching the components chosen so far) has at that position, that prefix followed by a fresh character, or a fresh
   * component; and URIs up to one component longer than the longest rule. Each representative that the pattern
   * matches is checked exactly like a CALL would be.
   */
  allows (uri: string, match: MatchPolicy, bit: number): boolean {
    if (match === 'exact') return (this.mask(uri) & bit) !== 0
    const key = `${bit} ${match} ${uri}`
    const known = this.decided.get(key)
    if (known !== undefined) return known
    const allowed = this.covers(uri, match, bit)
    if (this.decided.size >= DECIDED_MAX) this.decided.clear()
    this.decided.set(key, allowed)
    return allowed
  }

  private covers (uri: string, match: 'prefix' | 'wildcard', bit: number): boolean {
    const pattern = shapeOf(uri, match)
    let longest = pattern.lits.length
    for (const s of this.shapes) longest = Math.max(longest, s.lits.length)
    let budget = COVERAGE_BUDGET
    const chosen: string[] = []
    const search = (i: number, alive: Shape[]): boolean => {
      if (--budget < 0) return false
      if (i >= pattern.lits.length && i > 0 && (this.mask(chosen.join('.')) & bit) === 0) return false
      if (i > longest || (!pattern.open && i >= pattern.lits.length)) return true
      const candidates = new Set<string>([this.fresh])
      for (const s of [pattern, ...alive]) {
        if (i >= s.lits.length) continue
        const lit = s.lits[i]
        if (lit !== undefined) candidates.add(lit)
        else if (s.pres[i] !== '') candidates.add(s.pres[i]).add(s.pres[i] + this.fresh)
      }
      for (const c of candidates) {
        if (!admits(pattern, i, c)) continue
        chosen.push(c)
        const ok = search(i + 1, alive.filter((s) => admits(s, i, c)))
        chosen.pop()
        if (!ok) return false
      }
      return true
    }
    return search(0, this.shapes)
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

  /**
   * True/false, or a promise of it when the hook is async. Throws what the hook throws. CALL and PUBLISH are
   * checked as the exact URI whatever `match` the client sent; SUBSCRIBE and REGISTER by every URI they cover.
   */
  check (session: Session, action: AuthorizeAction, uri: string, options: Details): boolean | Promise<boolean> {
    const pattern = action === 'subscribe' || action === 'register'
    if (!pattern) options = withoutMatch(options)
    if (this.roles !== undefined) {
      const rules = this.roles.get(session.authrole)
      const match = pattern ? (options.match ?? 'exact') as MatchPolicy : 'exact'
      if (rules === undefined || !rules.allows(uri, match, ACTIONS[action])) return false
    }
    return this.hook === undefined ? true : this.hook(session, action, uri, options)
  }

  /**
   * Reflection and the Meta API (`visibleTo`): may `session` call (or subscribe to, publish to) what `uri` with `match`
   * covers? For a pattern, the permissions must allow every URI it covers, and the hook is asked with
   * `options.match` as for SUBSCRIBE and REGISTER. Throws what the hook throws.
   */
  covers (session: Session, action: AuthorizeAction, uri: string, match: MatchPolicy): boolean | Promise<boolean> {
    if (this.roles !== undefined) {
      const rules = this.roles.get(session.authrole)
      if (rules === undefined || !rules.allows(uri, match, ACTIONS[action])) return false
    }
    return this.hook === undefined ? true : this.hook(session, action, uri, match === 'exact' ? {} : { match })
  }
}

/**
 * May `session` see an entry whose URI pattern is (`uri`, `match`) — may it act on every URI the pattern covers by
 * `action` (`Authorizer.covers`)? A hook that throws or rejects hides the entry. Synchronous when the answer is
 * (permissions, a sync hook): no promise then.
 */
export function sees (authorizer: Authorizer, session: Session, action: AuthorizeAction, uri: string, match: MatchPolicy): boolean | Promise<boolean> {
  let pending: Promise<boolean>
  try {
    const answer = authorizer.covers(session, action, uri, match)
    if (!isThenable(answer)) return answer === true
    pending = Promise.resolve(answer)
  } catch {
    return false
  }
  return pending.then((allowed) => allowed === true, () => false)
}

/**
 * What `session` may see of `entries` (reflection, the Meta API): an entry it may act on by one of `actions`
 * (`sees`). Everything, in order, when the realm has no authorization (`authorize` hook or `permissions`).
 */
export async function visibleTo<E> (realm: Realm, session: Session, entries: E[], actions: AuthorizeAction[],
  patternOf: (entry: E) => [uri: string, match: MatchPolicy]): Promise<E[]> {
  const authorizer = realm.authorizer
  if (authorizer === undefined) return entries
  const seen: E[] = []
  for (const entry of entries) {
    const [uri, match] = patternOf(entry)
    for (const action of actions) {
      if (await sees(authorizer, session, action, uri, match)) {
        seen.push(entry)
        break
      }
    }
  }
  return seen
}

/**
 * An authorization asked outside a request's dispatch (testaments, history): the hook's answer, with a failure of the
 * hook (throw or rejection) denying as it does for a CALL — logged, answered not_authorized — unless it is a WampError,
 * which the caller receives as the hook meant it.
 */
export async function allowed (session: Session, ask: () => boolean | Promise<boolean>): Promise<boolean> {
  try {
    return await ask() === true
  } catch (err) {
    if (err instanceof WampError) throw err
    session.log.error({ err }, 'fastify-wamp: authorize hook failed')
    return false
  }
}

function withoutMatch (options: Details): Details {
  if (!Object.hasOwn(options, 'match')) return options
  // Object.fromEntries defines own properties: a client's `__proto__` key stays a key, never the copy's prototype.
  return Object.fromEntries(Object.entries(options).filter(([key]) => key !== 'match'))
}

/**
 * Authorizes a client request, then dispatches it again as authorized, or answers ERROR not_authorized (the
 * handler never runs). While an async hook decides, the session reads nothing more, so the messages after this
 * one are handled in order once it has.
 */
export function authorize (session: Session, msg: WampMessage, action: AuthorizeAction, uri: string, options: Details): void {
  const authorizer = (session.realm as Realm).authorizer as Authorizer
  let answer: boolean | Promise<boolean>
  let pending: Promise<boolean> | undefined
  try {
    answer = authorizer.check(session, action, uri, options)
    // As a promise: the first settlement decides (a thenable may call both callbacks, or throw from then or its getter).
    if (isThenable(answer)) pending = Promise.resolve(answer)
  } catch (err) {
    return deny(session, msg, action, uri, err)
  }
  if (pending === undefined) return decide(session, msg, action, uri, answer)
  hold(session)
  pending.then(
    (allowed) => settled(session, msg, action, uri, allowed, undefined),
    (err: unknown) => settled(session, msg, action, uri, false, err ?? new Error('authorize rejected with no reason'))
  )
}

function settled (session: Session, msg: WampMessage, action: AuthorizeAction, uri: string, allowed: unknown, err: unknown): void {
  try {
    if (session.isOpen) {
      // A streamed CALL: its chunks held meanwhile are dropped for streamGrace from now if the call ends at once
      // (a grace counted from the first chunk could have run out while the authorizer took its time).
      if (msg[0] === T.CALL) session.streams.ended(msg[1] as number)
      if (err === undefined) decide(session, msg, action, uri, allowed)
      else deny(session, msg, action, uri, err)
    }
  } catch (error) {
    session.log.error({ err: error }, 'fastify-wamp: authorized request failed')
  }
  release(session)
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
  peerLog(session, 'info', { action, uri, realm: session.joined?.name, authid: session.authid, authrole: session.authrole }, 'fastify-wamp: not authorized')
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
      // A misspelled key (`macth`) must not read as absent: the rule would quietly cover something else.
      const unknown = Object.keys(rule).find((key) => key !== 'uri' && key !== 'match' && key !== 'allow')
      if (unknown !== undefined) invalid(`${at}[${i}] has an unknown key "${unknown}" (a rule is { uri, match?, allow })`)
      const match = rule.match ?? 'exact'
      if (match !== 'exact' && match !== 'prefix' && match !== 'wildcard') invalid(`${at}[${i}].match must be exact, prefix or wildcard`)
      const uri = rule.uri
      if (typeof uri !== 'string' || !isValidUri(uri, match)) {
        invalid(`${at}[${i}].uri ${JSON.stringify(uri)} is not a valid ${match} URI`)
      }
      const allow = rule.allow
      if (!Array.isArray(allow) || allow.some((a) => typeof a !== 'string' || !Object.hasOwn(ACTIONS, a))) {
        invalid(`${at}[${i}].allow must be a list of call, register, subscribe, publish`)
      }
    })
  }
}
