import { ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import type { CallResult, ClientCallOptions } from '../rpc/outgoing-call.js'
import type { PayloadSchema, PayloadValidator } from '../validation.js'
import { validatorFor } from '../validation.js'
import { traceContextOfCall } from '../rpc/outgoing-call.js'
import type { TraceContext } from '../trace-context.js'

// One call this instance made to a callee through the cluster (`ClusterRpc.call()` / `invoke()`), from the registry
// lookup to its one settlement, and the errors a call ends with when the cluster, not the callee, fails it.

export class RemoteCall {
  readonly id: number
  /** The callee's instance; '' until the registry lookup has picked it. */
  instance: string
  /** When the pick was a callee of this instance: aborts its local invocation. */
  local: AbortController | undefined
  readonly onProgress: ((result: CallResult) => void) | undefined
  readonly validator: PayloadValidator | undefined
  /** The trace context sent with the call (ClientCallOptions.traceparent). */
  readonly trace: TraceContext | undefined
  /** What the caller awaits; settled once, through `resolve` or `reject`. */
  readonly promise: Promise<CallResult>
  resolve!: (r: CallResult) => void
  reject!: (e: unknown) => void
  signal: AbortSignal | undefined
  timer: NodeJS.Timeout | undefined
  onAbort: (() => void) | undefined

  constructor (id: number, options: ClientCallOptions<PayloadSchema | undefined>) {
    this.id = id
    this.instance = ''
    this.local = undefined
    this.onProgress = options.onProgress
    this.validator = options.result === undefined ? undefined : validatorFor(options.result)
    this.trace = traceContextOfCall(options)
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    this.signal = undefined
    this.timer = undefined
    this.onAbort = undefined
  }
}

/** Set by `ClusterRpc.call()` to the call it made, so that `ClusterRpc.cancel()` can end it. */
export interface CallHandle { call: RemoteCall | undefined }

/**
 * The instance a call was sent to is gone (crashed, killed, cut off from Redis). `network_failure` as for a Redis
 * outage — the caller cannot know whether the callee ran it — with `kwargs.reason` telling the two apart.
 */
export function instanceLost (instance: string, why: string): WampError {
  return new WampError(ErrorUri.networkFailure, [`instance ${instance} was lost: ${why}`], { reason: 'instance_lost', instance })
}

export function networkFailure (err: Error | undefined): WampError {
  return new WampError(ErrorUri.networkFailure, [`Redis is unreachable${err !== undefined ? ` (${err.message})` : ''}: the call to another instance failed`])
}

/** Redis is down: a call that needs another instance cannot be made. */
export function unreachable (): WampError {
  return new WampError(ErrorUri.networkFailure, ['Redis is unreachable: calls to other instances cannot be made'])
}

/**
 * What cannot cross to another instance: invalid_argument for what the application or a client supplied (PROTOCOL
 * §7.1), runtime_error for a callee's answer.
 */
export function unencodable (what: string, problem: string, uri: string = ErrorUri.invalidArgument): WampError {
  return new WampError(uri, [`${what} cannot be encoded for another instance (msgpack): ${problem}`])
}
