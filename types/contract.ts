import type { AnyContract, HandlerReturn, PayloadWith, ProcedureUri } from '../lib/contract/types.js'
import type { ArgsOf, KwargsOf } from '../lib/validation.js'
import type { PublishOptions } from '../lib/pubsub/publish-filter.js'
import type { CallContext } from './call.js'

/** The handler of one contract procedure: arguments typed by its schemas, its return value by its `result`. */
export type ContractHandler<S> = (args: ArgsOf<S>, kwargs: KwargsOf<S>, ctx: CallContext<ArgsOf<S>, KwargsOf<S>>) => HandlerReturn<S>

/** One handler per procedure of the contract: a missing, misspelt or mistyped one does not compile. */
export type ContractHandlers<C extends AnyContract> = { [U in ProcedureUri<C>]: ContractHandler<C['procedures'][U]> }

export interface ImplementOptions {
  /**
   * Checks every result against the procedure's `result` schema before it is sent; a mismatch answers the caller
   * `wamp.error.runtime_error` and is logged. Off by default (the types already hold the handlers to the schema).
   */
  validateResults?: boolean
}

/** Publishes to one topic of a contract, the payload typed by the topic's schemas (`fastify.wamp.topic()`). */
export interface TopicPublisher<S> {
  readonly topic: string
  /** As `publishToAll`: returns how many EVENTs this instance sent. */
  publish (...payload: PayloadWith<S, PublishOptions>): number
}
