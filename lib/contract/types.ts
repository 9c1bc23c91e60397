import type { TSchema } from 'typebox'
import type { Kwargs } from '../wire/messages.js'
import type { WampError, WampResult } from '../wire/wamp-error.js'
import type { ArgsOf, KwargsOf } from '../validation.js'

// The types of a contract: what a procedure or a topic carries, and what follows from it for the code on each side.
// Type-only: this file compiles to nothing, so the browser bundle of a contract is the contract's own schemas.

/** Positional and keyword arguments of one message, as TypeBox schemas. */
export interface MessageSchema {
  /** The positional arguments, usually `Type.Tuple([...])`. */
  args?: TSchema
  /** The keyword arguments, usually `Type.Object({...})`. */
  kwargs?: TSchema
}

/** An application error a procedure may answer with: its payload and a description. */
export interface ErrorContract extends MessageSchema {
  description?: string
}

export interface ProcedureContract extends MessageSchema {
  /**
   * The RESULT's arguments. A handler whose result is a one-element tuple and no kwargs may return the element
   * itself; otherwise it returns `new WampResult(args, kwargs)`.
   */
  result?: MessageSchema
  /** Application error URIs the procedure answers with, and what they carry (or just a description). */
  errors?: Record<string, ErrorContract | string>
  description?: string
}

export interface TopicContract extends MessageSchema {
  description?: string
}

export type ProcedureContracts = Record<string, ProcedureContract>
export type TopicContracts = Record<string, TopicContract>

/** A contract from `defineContract()`: the procedures and topics an API offers, shared by server and clients. */
export interface Contract<P extends ProcedureContracts = ProcedureContracts, T extends TopicContracts = TopicContracts> {
  readonly procedures: Readonly<P>
  readonly topics: Readonly<T>
  /** A `WampError` with one of the contract's error URIs, its payload typed by the error's schema. */
  error<U extends ErrorUriIn<P>> (uri: U, ...payload: Payload<ErrorSchemaIn<P, U>>): TypedWampError<U>
  /**
   * Whether `err` is a `WampError` (what the typed clients and `fastify.wamp.call` reject with) with this URI: one
   * of the contract's error URIs or a standard `wamp.error.*` one. A misspelt URI does not compile.
   */
  isError<U extends ErrorUriIn<P> | StandardErrorUri> (err: unknown, uri: U): err is TypedWampError<U>
}

/** Any contract (the type parameter bound of the functions that take one). */

export type AnyContract = Contract<any, any>

/** The procedure URIs of a contract. */
export type ProcedureUri<C extends AnyContract> = keyof C['procedures'] & string
/** The topic URIs of a contract. */
export type TopicUri<C extends AnyContract> = keyof C['topics'] & string

/** Every application error URI a contract declares. */
export type ErrorUri<C extends AnyContract> = ErrorUriIn<C['procedures']>

type ErrorUriIn<P> = { [K in keyof P]: P[K] extends { errors: infer E } ? keyof E & string : never }[keyof P]
type ErrorSchemaIn<P, U extends string> =
  { [K in keyof P]: P[K] extends { errors: infer E } ? (U extends keyof E ? E[U] : never) : never }[keyof P]

/** The error URIs the WAMP spec defines (`wamp.error.invalid_argument`, `wamp.error.canceled`…). */
export type StandardErrorUri = `wamp.error.${string}`

/** A `WampError` whose URI is known. */
export type TypedWampError<U extends string = string> = WampError & { readonly uri: U }

/** What a call resolves with: the result's arguments, typed by the procedure's `result` schema. */
export interface TypedResult<S> { args: ArgsOf<S>, kwargs: KwargsOf<S> }
export type ResultOf<S> = TypedResult<S extends { result: infer R } ? R : undefined>

/**
 * Arguments then keyword arguments (then options), each optional when its schema admits an empty value. Used for
 * calls and publications, so that a payload that does not match the contract does not compile.
 */
export type Payload<S> = [] extends ArgsOf<S>
  ? ({} extends KwargsOf<S> ? [args?: ArgsOf<S>, kwargs?: KwargsOf<S>] : [args: ArgsOf<S>, kwargs: KwargsOf<S>])
  : ({} extends KwargsOf<S> ? [args: ArgsOf<S>, kwargs?: KwargsOf<S>] : [args: ArgsOf<S>, kwargs: KwargsOf<S>])

/** `Payload` followed by an optional options argument. */
export type PayloadWith<S, O> = [...Payload<S>, options?: O]

/**
 * What a handler of a procedure may return (or resolve with): a `WampResult` typed by the `result` schema, or the
 * single value of a one-element result; anything when the contract says nothing about the result.
 */
export type HandlerReturn<S> = S extends { result: infer R extends MessageSchema }
  ? (R extends { args: TSchema } | { kwargs: TSchema } ? ResultValue<R> | PromiseLike<ResultValue<R>> : unknown)
  : unknown

type ResultValue<R> =
  | WampResult<ArgsOf<R> & unknown[], KwargsOf<R> & Kwargs>
  | (R extends { kwargs: TSchema } ? never : ArgsOf<R> extends [infer X] ? X : ArgsOf<R> extends [] ? void : never)
