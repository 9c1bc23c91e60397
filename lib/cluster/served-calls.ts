import type { Kwargs } from '../wire/messages.js'
import { ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { findRegistration, invoke } from '../rpc/outgoing-call.js'
import type { CallResult, CallSettlement, ClientCallOptions, OutgoingCall } from '../rpc/outgoing-call.js'
import type { Session } from '../session/session.js'
import { traceContextFromWire } from '../trace-context.js'
import { ERROR, PROGRESS, RESULT } from './rpc-outbox.js'
import type { RpcOutbox } from './rpc-outbox.js'
import type { ClusterStats } from './fanout.js'
import { unencodable } from './remote-call.js'

// The calls this instance serves for other instances: a REQUEST from the cluster becomes an INVOCATION of one of
// our callees, and its one answer (RESULT or ERROR; PROGRESS before it when asked) goes back to the caller's
// instance. A CANCEL, the caller's instance being lost, or Redis going down interrupts it.

/** The options of a served call that asks for nothing (most): one object for all of them. */
const NO_OPTIONS: ClientCallOptions = Object.freeze({})

export class ServedCalls {
  /** Caller instance → its call id → our INVOCATION. */
  private readonly calls: Map<string, Map<number, Served>>
  private readonly outbox: RpcOutbox
  private readonly stats: ClusterStats

  constructor (outbox: RpcOutbox, stats: ClusterStats) {
    this.calls = new Map()
    this.outbox = outbox
    this.stats = stats
  }

  /**
   * [REQUEST, from, callId, realm, uri, session, registration, args, kwargs, progress, caller, trace] for `session`
   * (undefined: not ours, or gone). Registration 0: `RemoteSession.call()`, which names the session and the URI only.
   */
  serve (m: unknown[], session: Session | undefined): void {
    const from = m[1] as string
    const id = m[2] as number
    const uri = m[4] as string
    const registration = m[6] as number
    if (session === undefined) {
      this.outbox.send(from, [ERROR, id, ErrorUri.canceled, [`the callee of "${uri}" left`], null])
      return
    }
    const callee = registration === 0 ? findRegistration(session, uri) : session.registrations.get(registration)
    // A client's call (it names its caller) reaches only what our router `allow` rules offer to other clients.
    if (callee !== undefined && m[10] != null && session.joined?.dealer.registry.byId.get(callee.id)?.routed !== true) {
      this.outbox.send(from, [ERROR, id, ErrorUri.noSuchProcedure, [`no client has registered "${uri}" in realm "${m[3] as string}"`], null])
      return
    }
    if (callee === undefined) {
      this.outbox.send(from, [ERROR, id, registration === 0 ? ErrorUri.noSuchProcedure : ErrorUri.canceled,
        [registration === 0 ? `session ${session.id} has not registered "${uri}"` : `the callee of "${uri}" left`], null])
      return
    }
    this.stats.callsIn++
    const served = new Served(this, from, id)
    let calls = this.calls.get(from)
    if (calls === undefined) this.calls.set(from, calls = new Map())
    calls.set(id, served)
    const trace = traceContextFromWire(m[11])
    // A client's call (it names its caller) asks for progressive results only of a callee that announced them, as
    // routeCall() does; the application's always (as session.call() does).
    const progress = m[9] === true && (m[10] == null || session.announces('callee', 'progressive_call_results'))
    let options = NO_OPTIONS
    if (progress || trace !== undefined) {
      options = { ...trace }
      if (progress) options.onProgress = (r) => served.progress(r)
    }
    const c = m[10] as [number, string, string, boolean] | null | undefined
    const caller = c == null ? undefined : { id: c[0], authid: c[1], authrole: c[2], discloseMe: c[3] }
    served.call = invoke(callee, uri, (m[7] ?? undefined) as unknown[] | undefined, (m[8] ?? undefined) as Kwargs | undefined, options, served, caller)
  }

  /** CANCEL from the caller's instance. */
  cancel (from: string, id: number): void {
    const served = this.calls.get(from)?.get(id)
    if (served === undefined) return
    this.forget(served)
    served.abort()
  }

  /** The caller instances of the calls in flight. */
  addInstances (to: Set<string>): void {
    for (const instance of this.calls.keys()) to.add(instance)
  }

  /** Calls are in flight. */
  get busy (): boolean {
    return this.calls.size > 0
  }

  /** `instance` is gone: its calls are interrupted (nobody takes the answer). */
  lost (instance: string): void {
    const calls = this.calls.get(instance)
    if (calls === undefined) return
    this.calls.delete(instance)
    for (const served of calls.values()) served.abort()
  }

  /**
   * Redis is down or the server shuts down: every call is interrupted, and its caller's instance is told with `err`.
   * The outbox retries that ERROR while Redis cannot take it: when only this instance lost Redis, the caller's
   * instance is still up and would otherwise wait forever (its probe sees us listening again).
   */
  abortAll (err: WampError): void {
    const all = [...this.calls.values()]
    this.calls.clear()
    for (const calls of all) {
      for (const served of calls.values()) {
        this.outbox.send(served.from, [ERROR, served.id, err.uri, err.args, err.kwargs])
        served.abort()
      }
    }
  }

  /**
   * Ends `served` with `message` if it is still in flight. An answer msgpack cannot carry (a BigInt beyond 64 bits
   * from a CBOR callee…) goes back as ERROR runtime_error saying why, as it would to a caller of this instance.
   */
  answer (served: Served, message: unknown[]): void {
    if (!this.inFlight(served)) return
    this.forget(served)
    const problem = this.outbox.send(served.from, message)
    if (problem !== undefined) this.unsent(served, message[0] === ERROR ? `the ${message[2] as string} error` : 'the result', problem)
  }

  /** A progressive result; one that cannot be encoded ends the call (ERROR to the caller, the callee interrupted). */
  progress (served: Served, message: unknown[]): void {
    if (!this.inFlight(served)) return
    const problem = this.outbox.send(served.from, message)
    if (problem === undefined) return
    this.forget(served)
    served.abort()
    this.unsent(served, 'a progressive result', problem)
  }

  private unsent (served: Served, what: string, problem: string): void {
    const e = unencodable(what, problem, ErrorUri.runtimeError)
    this.outbox.send(served.from, [ERROR, served.id, e.uri, e.args, null])
  }

  private inFlight (served: Served): boolean {
    return this.calls.get(served.from)?.get(served.id) === served
  }

  private forget (served: Served): void {
    const calls = this.calls.get(served.from)
    if (calls === undefined) return
    calls.delete(served.id)
    if (calls.size === 0) this.calls.delete(served.from)
  }
}

/**
 * A call served for another instance: its INVOCATION, canceled directly (an AbortController per call costs more).
 */
class Served implements CallSettlement {
  readonly from: string
  readonly id: number
  call: OutgoingCall | undefined
  private readonly owner: ServedCalls

  constructor (owner: ServedCalls, from: string, id: number) {
    this.owner = owner
    this.from = from
    this.id = id
    this.call = undefined
  }

  abort (): void {
    this.call?.cancel()
  }

  resolve (r: CallResult): void {
    this.owner.answer(this, [RESULT, this.id, r.args, r.kwargs])
  }

  reject (err: unknown): void {
    const e = err instanceof WampError ? err : new WampError(ErrorUri.runtimeError, [String((err as Error)?.message ?? err)])
    this.owner.answer(this, [ERROR, this.id, e.uri, e.args, e.kwargs])
  }

  progress (r: CallResult): void {
    this.owner.progress(this, [PROGRESS, this.id, r.args, r.kwargs])
  }
}
