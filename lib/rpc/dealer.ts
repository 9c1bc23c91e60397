import { MessageType as T } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import { ErrorUri, isValidUri, quoted } from '../wire/uris.js'
import type { MatchPolicy } from '../wire/uris.js'
import { compilePayload, describeIssues } from '../validation.js'
import type { PayloadValidator } from '../validation.js'
import type { PayloadSchema } from '../validation.js'
import { IncomingCall } from './incoming-call.js'
import { WampError } from '../wire/wamp-error.js'
import type { Session } from '../session/session.js'
import type { Realm } from '../realm/realm.js'
import { authorize } from '../realm/authorize.js'
import { Registry } from './registry.js'
import type { ClientRegistration, Registration } from './registry.js'
import { Router } from './router.js'
import type { RouterOptions } from './router.js'
import { RoutedCall } from './routed-call.js'
import { invokeCallee } from './outgoing-call.js'
import type { CallResult, ClientCallOptions } from './outgoing-call.js'
import { publishRegistered, publishUnregistered } from '../realm/meta.js'
import { PatternIndex } from '../wire/uri-trie.js'
import { callOptionsProblem, cancelOptionsProblem, yieldOptionsProblem } from '../wire/options.js'

export type { ClientRegistration } from './registry.js'

import type { ProcedureHandler } from '../../types/call.js'
import type { ProcedureOptions } from '../../types/realm.js'

export type { ProcedureHandler, ProcedureOptions }

/** Largest REGISTER message accepted, in bytes (URI and options; see `register`). */
export const MAX_REGISTER_BYTES = 16 * 1024

/** A procedure the application registered: resolved once, only read on the hot path. */
export class Procedure {
  readonly uri: string
  readonly match: MatchPolicy
  readonly handler: ProcedureHandler
  readonly validator: PayloadValidator | undefined
  /** As registered: what reflection and the API document describe (lib/realm/catalog.ts). */
  readonly schema: PayloadSchema | undefined
  /** Takes streamed input (`input: 'stream'`). */
  readonly streamed: boolean

  constructor (uri: string, match: MatchPolicy, handler: ProcedureHandler, schema: PayloadSchema | undefined, streamed = false) {
    this.uri = uri
    this.match = match
    this.streamed = streamed
    this.handler = handler
    this.schema = schema
    this.validator = compilePayload(schema)
  }
}

/**
 * Registrations and the routing of calls in one realm: the application's procedures answer client CALLs;
 * client REGISTERs make procedures the application can call with `session.call()` — and, in router mode, that
 * the other clients call (lib/rpc/router.ts), when no application procedure answers the CALL.
 */
export class Dealer {
  readonly realm: Realm
  readonly procedures: Map<string, Procedure>
  /** Prefix and wildcard procedures, indexed by URI component (spec precedence: exact > prefix > wildcard). */
  private readonly patterns: PatternIndex<Procedure>
  /** The client registrations. */
  readonly registry: Registry
  /** Router mode; undefined when clients only call the application (no cost on the CALL path). */
  readonly router: Router | undefined
  /** Some procedure can take streamed input (router mode, or an app procedure with `input: 'stream'`). */
  streams: boolean

  constructor (realm: Realm, router?: boolean | RouterOptions) {
    this.realm = realm
    this.procedures = new Map()
    this.patterns = new PatternIndex()
    this.registry = new Registry()
    this.router = Router.compile(this, realm.name, router)
    this.streams = this.router !== undefined
  }

  // ---- the application's procedures -----------------------------------------------------------------------

  add (procedure: Procedure): void {
    if (procedure.streamed) this.streams = true
    if (procedure.match === 'exact') {
      this.procedures.set(procedure.uri, procedure)
      return
    }
    this.patterns.set(procedure.uri, procedure.match, procedure)
  }

  has (uri: string, match: MatchPolicy): boolean {
    if (match === 'exact') return this.procedures.has(uri)
    return this.patterns.get(uri, match) !== undefined
  }

  remove (uri: string, match: MatchPolicy = 'exact'): boolean {
    if (match === 'exact') return this.procedures.delete(uri)
    return this.patterns.delete(uri, match)
  }

  /** Every application procedure, exact ones first (reflection, API documents; not the CALL path). */
  * list (): Generator<Procedure> {
    yield * this.procedures.values()
    yield * this.patterns.values()
  }

  lookup (uri: string): Procedure | undefined {
    const exact = this.procedures.get(uri)
    if (exact !== undefined || this.patterns.size === 0) return exact
    return this.patterns.best(uri)
  }

  // ---- client → application calls --------------------------------------------------------------------------

  call (session: Session, msg: WampMessage, authorized = false): void {
    const requestId = msg[1] as number
    const options = msg[2] as Details
    const uri = msg[3] as string
    const last = options.progress !== true
    const running = session.calls.get(requestId)
    if (running !== undefined) {
      // A further chunk has no answer of its own (its request id is the call's): malformed options end the session.
      const problem = callOptionsProblem(options)
      if (problem !== undefined) return session.violation(problem)
      if (last) session.streams.finished(requestId)
      if (running instanceof RoutedCall) return running.chunk(msg)
      if (running.input === undefined || running.input.complete) {
        return session.violation(`CALL request id ${requestId} is already in flight`)
      }
      const args = (msg[4] ?? []) as unknown[]
      const kwargs = (msg[5] ?? {}) as Kwargs
      const issues = running.registration.validator?.check(args, kwargs)
      if (issues !== undefined) return running.refuse(ErrorUri.invalidArgument, [describeIssues(issues)], { errors: issues })
      return running.chunk(args, kwargs, last, session.frameBytes)
    }
    if (!authorized) {
      // A chunk of a stream whose call already ended is dropped without an answer (PROTOCOL §7.4).
      if (session.streams.size > 0 && session.streams.swallows(requestId, uri, last)) return
      const problem = callOptionsProblem(options)
      if (problem !== undefined) return session.sendError(T.CALL, requestId, ErrorUri.invalidArgument, [problem])
      if (!last) {
        // Spec: a progressive CALL that the caller or the dealer did not announce is a protocol error.
        if (!this.streams || !session.announces('caller', 'progressive_call_invocations')) {
          return session.violation(`CALL with progress: true, but ${this.streams ? 'the caller' : 'the dealer'} did not announce progressive_call_invocations`)
        }
        session.streams.started(requestId, uri)
      }
    }
    // A URI registered exactly was validated at registration; only others pay for the regular expression.
    if (!this.procedures.has(uri) && this.registry.find(uri, 'exact') === undefined && !isValidUri(uri)) {
      return session.sendError(T.CALL, requestId, ErrorUri.invalidUri, [`${quoted(uri)} is not a valid procedure URI`])
    }
    // Before the lookup: an unauthorized caller does not learn whether the procedure exists.
    if (!authorized && this.realm.authorizer !== undefined) return authorize(session, msg, 'call', uri, options)
    if (session.draining) return session.sendError(T.CALL, requestId, ErrorUri.canceled, ['the server is shutting down'])
    if (session.calls.size >= session.hub.options.maxCallsPerSession) {
      return session.sendError(T.CALL, requestId, ErrorUri.limitExceeded, [`at most ${session.hub.options.maxCallsPerSession} calls may be in flight per session`])
    }
    const procedure = this.lookup(uri)
    if (procedure === undefined) {
      if (this.router !== undefined) return this.router.call(session, msg, uri)
      return session.sendError(T.CALL, requestId, ErrorUri.noSuchProcedure, [`no procedure "${uri}" is registered`])
    }
    // Only here, once the call is the application's: a routed CALL passes its message's payload on as it came.
    const args = (msg[4] ?? []) as unknown[]
    const kwargs = (msg[5] ?? {}) as Kwargs
    const issues = procedure.validator?.check(args, kwargs)
    if (issues !== undefined) {
      return session.sendError(T.CALL, requestId, ErrorUri.invalidArgument, [describeIssues(issues)], { errors: issues })
    }
    if (!last && !procedure.streamed) {
      return session.sendError(T.CALL, requestId, ErrorUri.featureNotSupported, [`procedure "${uri}" does not take streamed input`])
    }
    const call = new IncomingCall(session, requestId, uri, options, procedure, !last)
    if (call.input !== undefined) {
      call.chunk(args, kwargs, false, session.frameBytes)
      if (!call.open) return
    }
    call.run(args, kwargs)
  }

  cancel (session: Session, msg: WampMessage): void {
    const options = msg[2] as Details
    const problem = cancelOptionsProblem(options)
    if (problem !== undefined) return session.violation(problem)
    const mode = options.mode ?? 'kill'
    session.calls.get(msg[1] as number)?.cancel(mode)
  }

  // ---- client registrations, called by the application -----------------------------------------------------

  register (session: Session, msg: WampMessage, authorized = false): void {
    const requestId = msg[1] as number
    const options = msg[2] as Details
    const uri = msg[3] as string
    const match = options.match ?? 'exact'
    // Pattern registrations only in router mode (PROTOCOL §3.1: without it, clients register exact URIs).
    if (match !== 'exact' && (this.router === undefined || (match !== 'prefix' && match !== 'wildcard'))) {
      return session.sendError(T.REGISTER, requestId, ErrorUri.invalidArgument, [`match "${String(match)}" is not supported for client registrations`])
    }
    if (!isValidUri(uri, match as MatchPolicy) || uri.startsWith('wamp.')) {
      return session.sendError(T.REGISTER, requestId, ErrorUri.invalidUri, [`${quoted(uri)} is not a valid procedure URI`])
    }
    // A registration keeps its REGISTER.Options (RegistrationInfo.options) while it lives: without a bound, a session's
    // maxRegistrationsPerSession registrations could pin that many maxPayload-sized dicts.
    if (!authorized && session.frameBytes > MAX_REGISTER_BYTES) {
      return session.sendError(T.REGISTER, requestId, ErrorUri.invalidArgument, [`a REGISTER message may take at most ${MAX_REGISTER_BYTES} bytes`])
    }
    if (!authorized && this.realm.authorizer !== undefined) return authorize(session, msg, 'register', uri, options)
    for (const r of session.registrations.values()) {
      if (r.uri === uri && r.match === match) {
        return session.sendError(T.REGISTER, requestId, ErrorUri.procedureAlreadyExists, [`"${uri}" is already registered by this session`])
      }
    }
    if (session.registrations.size >= session.hub.options.maxRegistrationsPerSession) {
      return session.sendError(T.REGISTER, requestId, ErrorUri.limitExceeded, [`at most ${session.hub.options.maxRegistrationsPerSession} registrations per session`])
    }
    if (this.router !== undefined && this.router.admits(session, uri, options)) {
      return this.router.register(session, requestId, uri, match as MatchPolicy, options)
    }
    if (match !== 'exact') {
      return session.sendError(T.REGISTER, requestId, ErrorUri.invalidArgument, [`match "${match}" is only supported for procedures offered to other clients`])
    }
    this.attach(session, requestId, this.registry.create(uri, 'exact', 'single', false), options)
  }

  /** Adds `session` as a callee of `registration` and answers REGISTERED. */
  attach (session: Session, requestId: number, registration: Registration, options: Details): void {
    const callee: ClientRegistration = { id: registration.id, uri: registration.uri, match: registration.match, session, options, created: new Date().toISOString() }
    registration.callees.push(callee)
    session.registrations.set(callee.id, callee)
    session.hub.cluster?.registry.registered(callee, registration)
    session.send([T.REGISTERED, requestId, callee.id])
    if (session.hub.options.metaApi) publishRegistered(session, registration)
    session.didRegister(callee)
    session.hub.hooks.clientEvent('register', session, callee)
  }

  unregister (session: Session, msg: WampMessage): void {
    const requestId = msg[1] as number
    const callee = session.registrations.get(msg[2] as number)
    if (callee === undefined) {
      return session.sendError(T.UNREGISTER, requestId, ErrorUri.noSuchRegistration, [`no registration ${String(msg[2])} in this session`])
    }
    this.drop(callee)
    session.send([T.UNREGISTERED, requestId])
  }

  /** The callee leaves its registration (UNREGISTER, revocation, the session ending). */
  drop (callee: ClientRegistration): void {
    callee.session.registrations.delete(callee.id)
    const removed = this.registry.remove(callee)
    callee.session.hub.cluster?.registry.unregistered(callee)
    if (removed !== undefined && callee.session.hub.options.metaApi) publishUnregistered(callee.session, removed.registration, removed.deleted)
    callee.session.hub.hooks.clientEvent('unregister', callee.session, callee)
  }

  /**
   * `realm.call()`: the application calls a client's procedure — in router mode by pattern and invocation
   * policy, otherwise (or if no routed registration matches) the oldest exact registration of `uri`.
   */
  invoke (uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined, options: ClientCallOptions<PayloadSchema | undefined>): Promise<CallResult> {
    const cluster = this.realm.cluster
    if (cluster !== undefined && this.router !== undefined) {
      const registration = this.registry.lookup(uri)
      if (registration !== undefined && this.router.clusterWide(registration)) return cluster.call(this.realm.name, uri, args, kwargs, options, true)
      // Only a private registration here: a routed one on another instance takes the call first (docs/router.md),
      // and among private ones the cluster's oldest. The cluster's pick decides, ours included — or ours answers when
      // the cluster knows none yet (the registry write of a REGISTER just made may still be on its way).
      if (registration === undefined && cluster.up && this.registry.oldest(uri) !== undefined) {
        return cluster.call(this.realm.name, uri, args, kwargs, options, true).catch((err: unknown) => {
          const callee = err instanceof WampError && err.uri === ErrorUri.noSuchProcedure ? this.registry.oldest(uri) : undefined
          if (callee === undefined) throw err
          return invokeCallee(callee, uri, args, kwargs, options)
        })
      }
    }
    const callee = this.router?.pick(uri) ?? this.registry.oldest(uri)
    if (callee === undefined) {
      // With cluster-wide RPC, a callee on another instance.
      const cluster = this.realm.cluster
      if (cluster !== undefined) return cluster.call(this.realm.name, uri, args, kwargs, options)
      return Promise.reject(new WampError(ErrorUri.noSuchProcedure, [`no client has registered "${uri}" in realm "${this.realm.name}"`]))
    }
    return invokeCallee(callee, uri, args, kwargs, options)
  }

  yield (session: Session, msg: WampMessage): void {
    const problem = yieldOptionsProblem(msg[2] as Details)
    if (problem !== undefined) return session.violation(problem)
    // A YIELD for an invocation that is already settled is discarded (PROTOCOL §3.5).
    const invocation = session.invocations.get(msg[1] as number)
    if (invocation === undefined) {
      session.routed.get(msg[1] as number)?.yielded(msg)
      return
    }
    const args = (msg[3] ?? []) as unknown[]
    const kwargs = (msg[4] ?? {}) as Kwargs
    if ((msg[2] as Details).progress === true) invocation.progress(args, kwargs)
    else invocation.resolve(args, kwargs)
  }

  error (session: Session, msg: WampMessage): void {
    // The URI reaches the caller as is (router mode) or the app's rejection: a malformed one would go on the wire.
    if (!isValidUri(msg[4])) return session.violation('ERROR.Error must be a valid URI')
    const invocation = session.invocations.get(msg[2] as number)
    if (invocation === undefined) {
      session.routed.get(msg[2] as number)?.failed(msg)
      return
    }
    invocation.reject(new WampError(msg[4] as string, (msg[5] ?? []) as unknown[], (msg[6] ?? {}) as Kwargs))
  }

  /** The session left: its registrations disappear, all at once. */
  leave (session: Session): void {
    for (const callee of session.registrations.values()) this.drop(callee)
  }
}
