import type { FastifyRequest } from 'fastify'
import { isDict, MessageType as T } from '../../wire/messages.js'
import type { Details, WampMessage } from '../../wire/messages.js'
import { CloseUri, ErrorUri } from '../../wire/uris.js'
import { WampError } from '../../wire/wamp-error.js'
import { isThenable } from '../../thenable.js'
import { FST_WAMP_INVALID_OPTION } from '../../errors.js'
import { State } from '../state.js'
import type { Session } from '../session.js'
import type { Realm } from '../../realm/realm.js'
import { anonymousAuthid, welcome } from '../welcome.js'
import { ticket } from './ticket.js'
import { wampcra } from './wampcra.js'
import { cryptosign } from './cryptosign.js'
import type { PendingSession } from '../../../types/session.js'

// WAMP-level authentication (spec "Authentication"): HELLO → CHALLENGE → AUTHENTICATE → WELCOME | ABORT.
// Every refusal looks the same on the wire (ABORT authentication_failed, one generic message), whatever failed.

/** What the application's authenticate functions answer to refuse: nothing. Throwing refuses too. */
export type Refusal = undefined | null | false
export type AuthAnswer<T> = T | Refusal | Promise<T | Refusal>

/** The identity a session is admitted under (WELCOME.Details). */
export interface AuthIdentity {
  /** Defaults to HELLO.Details.authid (cryptosign: then to the public key). */
  authid?: string
  authrole: string
  /** Default `static`. */
  authprovider?: string
  /** Sent in WELCOME.Details.authextra and kept as `session.authextra`. */
  authextra?: Details
}

/** What the client asked for in HELLO, handed to every authenticate function. */
export interface AuthContext {
  readonly realm: string
  /** HELLO.Details.authid, if the client sent one. */
  readonly authid: string | undefined
  /** HELLO.Details.authextra (`{}` if absent). */
  readonly authextra: Details
  /** The whole HELLO.Details. */
  readonly details: Details
  /** The HTTP request that opened the session, with whatever the app's Fastify hooks attached; undefined on RawSocket. */
  readonly request: FastifyRequest | undefined
  readonly session: PendingSession
}

export interface TicketOptions {
  /** Checks the ticket (password, token…) the client sent in AUTHENTICATE. Use `safeEqual()` to compare secrets. */
  authenticate: (ticket: string, ctx: AuthContext) => AuthAnswer<AuthIdentity>
}

/** A WAMP-CRA principal: its shared secret, or for salted passwords the derived key and the PBKDF2 parameters. */
export interface WampCraUser extends AuthIdentity {
  /** The shared secret, or `deriveCraKey(password, salt, iterations, keylen)` when `salt` is given. */
  secret: string
  salt?: string
  iterations?: number
  keylen?: number
}

export interface WampCraOptions {
  /**
   * Looks up the principal for `ctx.authid` before the CHALLENGE is sent; refuse if unknown (the client still gets
   * a CHALLENGE of the same shape and fails at AUTHENTICATE). Its running time is part of what a client can
   * measure: take the same time for a known and an unknown authid (one indexed query either way).
   */
  authenticate: (ctx: AuthContext) => AuthAnswer<WampCraUser>
  /**
   * Your users' secrets are salted with these parameters: an unknown authid then gets a fake salt (hex,
   * `saltLength` characters, default 16; iterations default 1000, keylen 32) from the very first attempt.
   * Without it, an unknown authid mirrors the salt parameters of the latest known user looked up.
   */
  salted?: { iterations?: number, keylen?: number, saltLength?: number }
}

export interface CryptosignOptions {
  /** Called once the client proved it holds the private key for `pubkey` (hex): admit it or refuse. */
  authenticate: (pubkey: string, ctx: AuthContext) => AuthAnswer<AuthIdentity>
}

export interface RealmAuthOptions {
  /** Admit clients that offer `anonymous` (or no authmethods). Default: true unless another method is configured. */
  anonymous?: boolean | { authrole?: string }
  ticket?: TicketOptions
  wampcra?: WampCraOptions
  cryptosign?: CryptosignOptions
  /**
   * Turns an HTTP-authenticated upgrade request (cookie, JWT… checked by your Fastify hooks) into the session's
   * identity (authmethod `http`), whatever the client offers in HELLO. Refuse to fall back to the WAMP methods.
   * Not called for sessions without an HTTP request (RawSocket): the WAMP methods alone decide there.
   */
  fromRequest?: (request: FastifyRequest, ctx: AuthContext) => AuthAnswer<AuthIdentity>
  /** Milliseconds from HELLO to WELCOME while authenticating (includes your authenticate functions). Default 10 000. */
  timeout?: number
}

/** One challenge-response method. It keeps what `verify` needs in `flow.data`. */
export interface Authenticator {
  readonly method: string
  /** Whether this HELLO carries what the method needs (cryptosign: a public key). */
  accepts (ctx: AuthContext): boolean
  /** CHALLENGE.Extra for this session (may first ask the application, e.g. for the WAMP-CRA secret). */
  challenge (flow: AuthFlow, options: RealmAuthOptions): Details | Promise<Details>
  /** Checks AUTHENTICATE.Signature; answers the identity, or refuses. */
  verify (flow: AuthFlow, signature: string, options: RealmAuthOptions): AuthAnswer<AuthIdentity>
}

const AUTHENTICATORS: readonly Authenticator[] = [ticket, wampcra, cryptosign]
const GENERIC = 'authentication failed'
const SHUTTING_DOWN = 'the server is shutting down'

/** A realm's authentication, resolved once from its options. */
export class RealmAuth {
  readonly options: RealmAuthOptions
  readonly anonymousRole: string | undefined
  readonly methods: Map<string, Authenticator>
  readonly timeout: number

  constructor (options: RealmAuthOptions) {
    this.options = options
    this.methods = new Map()
    for (const a of AUTHENTICATORS) if (options[a.method as 'ticket'] !== undefined) this.methods.set(a.method, a)
    const anonymous = options.anonymous ?? (this.methods.size === 0 && options.fromRequest === undefined)
    this.anonymousRole = anonymous === false ? undefined : anonymous === true ? 'anonymous' : (anonymous.authrole ?? 'anonymous')
    this.timeout = options.timeout ?? 10_000
  }

  /** Undefined when the realm admits everyone anonymously: HELLO → WELCOME with no detour. */
  static compile (options: RealmAuthOptions | undefined): RealmAuth | undefined {
    if (options === undefined) return undefined
    const auth = new RealmAuth(options)
    if (auth.methods.size === 0 && options.fromRequest === undefined && auth.anonymousRole === 'anonymous') return undefined
    return auth
  }
}

const Stage = { asking: 0, challenged: 1, verifying: 2 } as const

/** One session's authentication in progress (`session.handshake`), from HELLO to WELCOME or ABORT. */
export class AuthFlow {
  readonly session: Session
  readonly realm: Realm
  readonly auth: RealmAuth
  readonly ctx: AuthContext
  authenticator: Authenticator | undefined
  stage: number
  /** What the authenticator keeps between CHALLENGE and AUTHENTICATE. */
  data: unknown

  constructor (session: Session, realm: Realm, details: Details) {
    this.session = session
    this.realm = realm
    this.auth = realm.auth as RealmAuth
    this.ctx = {
      realm: realm.name,
      authid: details.authid as string | undefined,
      authextra: (details.authextra ?? {}) as Details,
      details,
      request: session.request,
      session
    }
    this.authenticator = undefined
    this.stage = Stage.asking
    this.data = undefined
  }
}

/** HELLO for a realm that authenticates (called by handshake.hello once the realm is known). */
export function beginAuthentication (session: Session, realm: Realm, details: Details): void {
  const problem = checkAuthDetails(details)
  if (problem !== undefined) return session.violation(problem)
  const flow = new AuthFlow(session, realm, details)
  session.handshake = flow
  if (flow.auth.timeout > 0) session.helloTimer = setTimeout(authTimedOut, flow.auth.timeout, flow)
  const fromRequest = flow.auth.options.fromRequest
  // No HTTP request (RawSocket): nothing for fromRequest to read; the realm's WAMP authmethods decide alone.
  if (fromRequest === undefined || session.request === undefined) return chooseMethod(flow)
  settle(flow, fromRequest(session.request, flow.ctx), afterFromRequest)
}

/** AUTHENTICATE: legal only while a CHALLENGE is waiting for its answer. */
export function authenticate (session: Session, msg: WampMessage): void {
  const flow = session.handshake
  if (flow === undefined || flow.stage !== Stage.challenged) return session.violation('AUTHENTICATE received without a pending CHALLENGE')
  if (session.draining) return shutdownAbort(session)
  flow.stage = Stage.verifying
  const authenticator = flow.authenticator as Authenticator
  let answer: AuthAnswer<AuthIdentity>
  try {
    answer = authenticator.verify(flow, msg[1] as string, flow.auth.options)
  } catch (err) {
    return fail(flow, err)
  }
  settle(flow, answer, afterVerify)
}

function checkAuthDetails (details: Details): string | undefined {
  const { authmethods, authid, authextra } = details
  if (authmethods !== undefined && (!Array.isArray(authmethods) || authmethods.some((m) => typeof m !== 'string'))) {
    return 'HELLO.Details.authmethods must be a list of strings'
  }
  if (authid !== undefined && typeof authid !== 'string') return 'HELLO.Details.authid must be a string'
  if (authextra !== undefined && !isDict(authextra)) return 'HELLO.Details.authextra must be a dict'
  return undefined
}

function afterFromRequest (flow: AuthFlow, identity: AuthIdentity | Refusal): void {
  if (identity === undefined || identity === null || identity === false) return chooseMethod(flow)
  admit(flow, identity, 'http')
}

/** The first method in the client's order that the realm offers (spec: the client lists them by preference). */
function chooseMethod (flow: AuthFlow): void {
  const offered = flow.ctx.details.authmethods as string[] | undefined
  const list = offered === undefined || offered.length === 0 ? ['anonymous'] : offered
  for (const method of list) {
    if (method === 'anonymous') {
      if (flow.auth.anonymousRole === undefined) continue
      return welcomeAnonymous(flow)
    }
    const authenticator = flow.auth.methods.get(method)
    if (authenticator === undefined || !authenticator.accepts(flow.ctx)) continue
    flow.authenticator = authenticator
    let extra: Details | Promise<Details>
    try {
      extra = authenticator.challenge(flow, flow.auth.options)
    } catch (err) {
      return fail(flow, err)
    }
    return settle(flow, extra, sendChallenge)
  }
  flow.session.abort(ErrorUri.noAuthMethod, `none of the offered authmethods (${list.join(', ')}) is accepted here`)
}

function sendChallenge (flow: AuthFlow, extra: Details): void {
  flow.stage = Stage.challenged
  // Too large for the client (a RawSocket max length of 512 and a long authid in a WAMP-CRA challenge) or not
  // encodable: the client could never answer, so it hears why now rather than at auth.timeout.
  if (!flow.session.send([T.CHALLENGE, (flow.authenticator as Authenticator).method, extra])) flow.session.abortUnsent('the CHALLENGE')
}

function afterVerify (flow: AuthFlow, identity: AuthIdentity | Refusal): void {
  if (identity === undefined || identity === null || identity === false) return refuse(flow)
  admit(flow, identity, (flow.authenticator as Authenticator).method)
}

function welcomeAnonymous (flow: AuthFlow): void {
  admit(flow, { authid: anonymousAuthid(), authrole: flow.auth.anonymousRole as string }, 'anonymous')
}

function admit (flow: AuthFlow, identity: AuthIdentity, authmethod: string): void {
  const { authid, authrole, authprovider, authextra } = identity as Partial<AuthIdentity>
  if (typeof authrole !== 'string' || authrole.length === 0 || (authid !== undefined && typeof authid !== 'string') ||
      (authprovider !== undefined && typeof authprovider !== 'string') || (authextra !== undefined && !isDict(authextra))) {
    return fail(flow, new TypeError(`fastify-wamp: ${authmethod} authenticate must answer { authrole: string, authid?: string, authprovider?: string, authextra?: object }`))
  }
  const session = flow.session
  if (session.helloTimer !== undefined) clearTimeout(session.helloTimer)
  session.helloTimer = undefined
  session.handshake = undefined
  welcome(session, flow.realm, {
    authid: authid ?? defaultAuthid(flow),
    authrole,
    authmethod,
    authprovider: authprovider ?? 'static',
    authextra
  })
}

function defaultAuthid (flow: AuthFlow): string {
  if (flow.ctx.authid !== undefined) return flow.ctx.authid
  const pubkey = flow.ctx.authextra.pubkey
  if (flow.authenticator?.method === 'cryptosign' && typeof pubkey === 'string') return pubkey.toLowerCase()
  return anonymousAuthid()
}

/** The same answer for every reason: nothing tells the client which part was wrong. */
function refuse (flow: AuthFlow): void {
  logRefusal(flow, 'refused')
  flow.session.abort(ErrorUri.authenticationFailed, GENERIC)
}

/**
 * An authentication failure at `info` (issue 20), on `session.log`: bound to the session id once there is one
 * (wampcra's CHALLENGE carries it), else the upgrade request's logger with its reqId.
 */
function logRefusal (flow: AuthFlow, reason: string): void {
  flow.session.log.info({ realm: flow.realm.name, authmethod: flow.authenticator?.method, authid: flow.ctx.authid, reason },
    'fastify-wamp: authentication failed')
}

function fail (flow: AuthFlow, err: unknown): void {
  if (!current(flow)) return
  if (err instanceof WampError) {
    // The application chose the reason (e.g. not_authorized "account disabled"): pass it on.
    const first = err.args[0]
    logRefusal(flow, err.uri)
    return flow.session.abort(err.uri, typeof first === 'string' ? first : GENERIC)
  }
  flow.session.log.error({ err }, 'fastify-wamp: authentication failed with an error')
  flow.session.abort(ErrorUri.authenticationFailed, GENERIC)
}

function current (flow: AuthFlow): boolean {
  return flow.session.handshake === flow && flow.session.state === State.establishing
}

/** Continues with `next` now for a plain value, or once a promise settles if the session is still waiting for it. */
function settle<V> (flow: AuthFlow, value: V | Promise<V>, next: (flow: AuthFlow, value: V) => void): void {
  if (!isThenable(value)) return step(flow, next, value)
  const stage = flow.stage
  // The application's lookup is work in progress: shutdown waits for it (bounded by shutdownGrace).
  flow.session.hub.pending.add(value)
  value.then(
    (result) => { if (current(flow) && flow.stage === stage) step(flow, next, result as V) },
    (err: unknown) => fail(flow, err ?? new Error('authenticate rejected with no reason'))
  )
}

function step<V> (flow: AuthFlow, next: (flow: AuthFlow, value: V) => void, value: V): void {
  // Shutdown began while the application was deciding: no CHALLENGE, no WELCOME any more.
  if (flow.session.draining) return shutdownAbort(flow.session)
  try {
    next(flow, value)
  } catch (err) {
    fail(flow, err)
  }
}

/** PROTOCOL §7.6: a session still establishing when shutdown began is refused with ABORT system_shutdown. */
export function shutdownAbort (session: Session): void {
  session.abort(CloseUri.systemShutdown, SHUTTING_DOWN)
}

function authTimedOut (flow: AuthFlow): void {
  if (!current(flow)) return
  flow.session.helloTimer = undefined
  logRefusal(flow, 'timeout')
  flow.session.abort(ErrorUri.authenticationFailed, `authentication not completed within ${flow.auth.timeout} ms`)
}

// ---- option checks (register time) -------------------------------------------------------------------------

function invalid (message: string): never {
  throw new FST_WAMP_INVALID_OPTION(message)
}

/** Validates one realm's `auth` option with messages that name the option. */
export function checkAuthOptions (auth: unknown, where: string): void {
  if (auth === undefined) return
  if (!isDict(auth)) invalid(`${where} must be an object`)
  const known = new Set(['anonymous', 'ticket', 'wampcra', 'cryptosign', 'fromRequest', 'timeout'])
  for (const key of Object.keys(auth)) if (!known.has(key)) invalid(`${where} has an unknown key "${key}"`)
  const { anonymous, fromRequest, timeout } = auth
  if (anonymous !== undefined && typeof anonymous !== 'boolean') {
    if (!isDict(anonymous) || (anonymous.authrole !== undefined && (typeof anonymous.authrole !== 'string' || anonymous.authrole === ''))) {
      invalid(`${where}.anonymous must be a boolean or { authrole: string }`)
    }
  }
  for (const method of ['ticket', 'wampcra', 'cryptosign']) {
    const options = auth[method]
    if (options === undefined) continue
    if (!isDict(options) || typeof options.authenticate !== 'function') invalid(`${where}.${method}.authenticate must be a function`)
  }
  const salted = isDict(auth.wampcra) ? auth.wampcra.salted : undefined
  if (salted !== undefined && (!isDict(salted) || ['iterations', 'keylen', 'saltLength'].some((k) => salted[k] !== undefined &&
    (typeof salted[k] !== 'number' || !Number.isInteger(salted[k]) || (salted[k] as number) < 1)))) {
    invalid(`${where}.wampcra.salted must be { iterations?, keylen?, saltLength? } with positive integers`)
  }
  if (fromRequest !== undefined && typeof fromRequest !== 'function') invalid(`${where}.fromRequest must be a function`)
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0)) {
    invalid(`${where}.timeout must be an integer ≥ 0, got ${String(timeout)}`)
  }
  const methods = ['ticket', 'wampcra', 'cryptosign', 'fromRequest'].filter((m) => auth[m] !== undefined)
  if (anonymous === false && methods.length === 0) invalid(`${where} admits nobody: anonymous is false and no method is configured`)
}
