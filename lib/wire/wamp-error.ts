import type { Kwargs } from './messages.js'

/**
 * An application error that crosses the wire: what handlers throw to answer a CALL with ERROR, and what
 * `session.call()` rejects with when a client answers an INVOCATION with ERROR.
 */
export class WampError extends Error {
  readonly uri: string
  readonly args: unknown[]
  readonly kwargs: Kwargs

  constructor (uri: string, args: unknown[] = [], kwargs: Kwargs = {}) {
    const first = args[0]
    super(typeof first === 'string' ? `${uri}: ${first}` : uri)
    this.name = 'WampError'
    this.uri = uri
    this.args = args
    this.kwargs = kwargs
  }
}

/**
 * An explicit RPC result with several positional values and/or keyword values. The type parameters let a
 * contract's result schema type it (`new WampResult([a, b], { c })` is checked against the contract).
 */
export class WampResult<A extends unknown[] = unknown[], K extends Kwargs = Kwargs> {
  readonly args: A | undefined
  readonly kwargs: K | undefined

  constructor (args?: A, kwargs?: K) {
    this.args = args
    this.kwargs = kwargs
  }
}
