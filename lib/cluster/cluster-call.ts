import { EMPTY, MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import { ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import type { CallResult, ClientCallOptions } from '../rpc/outgoing-call.js'
import { callTimeout } from '../rpc/incoming-call.js'
import type { Session } from '../session/session.js'
import type { ClusterRpc } from './rpc.js'
import type { CallHandle, RemoteCall } from './remote-call.js'
import { callChannel, traceCallStart, traceContextAfterStart, traceReturned, traceSettled } from '../diagnostics.js'
import type { CallState } from '../diagnostics.js'
import { traceContextOf } from '../trace-context.js'

// Router mode with cluster-wide RPC: a client CALL that reaches a callee through the cluster registry (on another
// instance, or a shared registration picked cluster-wide). The caller gets exactly one terminal message. Across
// instances every cancel mode acts as `killnowait` (the callee gets INTERRUPT if it announced call_canceling and
// the caller gets ERROR canceled at once); progressive call invocations and caller disclosure do not cross.

const PROGRESS: Details = Object.freeze({ progress: true }) as Details

export class ClusterRoutedCall implements CallHandle {
  readonly caller: Session
  readonly requestId: number
  /** A further CALL with this request id is a protocol violation (no streamed input across instances). */
  readonly input: undefined
  /** The cluster call, once made (CallHandle): canceled through `cluster.cancel(this)`. */
  call: RemoteCall | undefined
  private readonly cluster: ClusterRpc
  private settled: boolean
  /** Only while `fastify-wamp:call` has subscribers (kind `cluster`). */
  trace: CallState | undefined

  constructor (caller: Session, requestId: number, cluster: ClusterRpc) {
    this.caller = caller
    this.requestId = requestId
    this.input = undefined
    this.call = undefined
    this.cluster = cluster
    this.settled = false
    this.trace = undefined
  }

  /** CANCEL from the caller. */
  cancel (): void {
    if (this.settled) return
    this.cluster.cancel(this)
  }

  /** The caller left: the remote callee is told (CANCEL → its INTERRUPT), nothing goes to the caller. */
  abandon (): void {
    if (this.settled) return
    this.settled = true
    this.cluster.cancel(this)
    this.forget(ErrorUri.canceled)
  }

  progress (result: CallResult): void {
    if (this.settled) return
    if (this.caller.send(withPayload([T.RESULT, this.requestId, PROGRESS, result.args, result.kwargs]))) return
    this.failed(new WampError(...this.caller.unsentError('a progressive result', ErrorUri.runtimeError)))
    this.cluster.cancel(this)
  }

  resolved (result: CallResult): void {
    if (this.settled) return
    this.settled = true
    this.forget(undefined)
    if (this.caller.send(withPayload([T.RESULT, this.requestId, EMPTY, result.args, result.kwargs]))) return
    this.caller.sendError(T.CALL, this.requestId, ...this.caller.unsentError('the result', ErrorUri.runtimeError))
  }

  failed (err: unknown): void {
    if (this.settled) return
    this.settled = true
    const e = err instanceof WampError ? err : new WampError(ErrorUri.runtimeError, [String((err as Error)?.message ?? err)])
    if (this.trace !== undefined) this.trace.error = err
    this.forget(e.uri)
    this.caller.sendError(T.CALL, this.requestId, e.uri, e.args, e.kwargs)
  }

  private forget (errorUri: string | undefined): void {
    if (this.trace !== undefined) traceSettled(callChannel, this.trace, errorUri)
    this.caller.endCall(this.requestId, this)
  }
}

/** Routes a client CALL through the cluster registry (Router.call, when no local callee takes it). */
export function callThroughCluster (caller: Session, msg: WampMessage, uri: string, cluster: ClusterRpc, realm: string, includeLocal: boolean): void {
  const requestId = msg[1] as number
  const options = msg[2] as Details
  if (options.progress === true) {
    return caller.sendError(T.CALL, requestId, ErrorUri.featureNotSupported, [`progressive call invocations of "${uri}" cannot cross instances`])
  }
  const call = new ClusterRoutedCall(caller, requestId, cluster)
  caller.calls.set(requestId, call)
  const callOptions: ClientCallOptions = {}
  const timeout = callTimeout(options)
  if (timeout !== undefined) callOptions.timeout = timeout
  if (options.receive_progress === true) callOptions.onProgress = (result) => call.progress(result)
  const identity = { id: caller.id, authid: caller.authid, authrole: caller.authrole, discloseMe: options.disclose_me === true }
  // Traced on `call` (kind cluster); the trace context after `start` (a subscriber's span) goes with the call.
  let trace = traceContextOf(options)
  if (callChannel.hasSubscribers) {
    call.trace = traceCallStart(callChannel, caller, uri, requestId, 'cluster', undefined, trace)
    traceReturned(callChannel, call.trace)
    trace = traceContextAfterStart(call.trace)
  }
  if (trace !== undefined) Object.assign(callOptions, trace)
  cluster.call(realm, uri, msg[4] as unknown[] | undefined, msg[5] as Kwargs | undefined, callOptions, includeLocal, identity, call)
    .then((result) => call.resolved(result), (err: unknown) => call.failed(err))
}
