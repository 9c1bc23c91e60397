import type { AnyContract, HandlerReturn, MessageSchema, PayloadWith, ProcedureContract, ProcedureUri, ResultOf, TopicUri } from '../contract/types.js'
import type { Details, Kwargs } from '../wire/messages.js'
import { ErrorUri } from '../wire/uris.js'
import { WampError, WampResult } from '../wire/wamp-error.js'
import { describeIssues, resultError, validatorFor } from '../validation.js'
import type { ArgsOf, KwargsOf, ValidationIssue } from '../validation.js'
import type { ClientAdapter, ClientRegistration, ClientSubscription } from './adapter.js'

// The typed client: the contract's URIs, payloads and results as types over any WAMP client library (through an
// adapter), and optionally a check of what arrives against the contract's schemas.

export interface TypedClientOptions {
  /**
   * Checks what arrives against the contract: a call's result (a mismatch rejects with
   * `wamp.error.invalid_argument`), an event (a mismatch is dropped and reported to `onInvalidEvent`) and an
   * invocation of a registered procedure (a mismatch is answered `wamp.error.invalid_argument`). Default false.
   */
  validate?: boolean
  /** Receives the events that `validate` dropped. */
  onInvalidEvent?: (topic: string, issues: ValidationIssue[]) => void
}

/** CALL.Options, passed to the client library as given (`timeout`, `disclose_me`…). */
export interface TypedCallOptions { timeout?: number, [option: string]: unknown }
/** PUBLISH.Options, passed to the client library as given (`acknowledge`, `exclude_me`, `eligible`…). */
export interface TypedPublishOptions { acknowledge?: boolean, exclude_me?: boolean, [option: string]: unknown }

export type TypedEventHandler<S> = (args: ArgsOf<S>, kwargs: KwargsOf<S>, details: Details) => void
export type TypedEndpoint<S> = (args: ArgsOf<S>, kwargs: KwargsOf<S>, details: Details) => HandlerReturn<S>

/** A WAMP client session typed by a contract: `call`, `subscribe`, `publish` and `register` take only its URIs. */
export interface TypedClient<C extends AnyContract> {
  readonly contract: C
  /** Resolves with the result's `args` and `kwargs`; rejects with a `WampError` (test it with `contract.isError`). */
  call<U extends ProcedureUri<C>> (uri: U, ...payload: PayloadWith<C['procedures'][U], TypedCallOptions>): Promise<ResultOf<C['procedures'][U]>>
  subscribe<U extends TopicUri<C>> (uri: U, handler: TypedEventHandler<C['topics'][U]>, options?: Details): Promise<ClientSubscription>
  publish<U extends TopicUri<C>> (uri: U, ...payload: PayloadWith<C['topics'][U], TypedPublishOptions>): Promise<void>
  /** The handler returns the result (or a `WampResult`) or throws a `WampError` (`contract.error(...)`). */
  register<U extends ProcedureUri<C>> (uri: U, handler: TypedEndpoint<C['procedures'][U]>, options?: Details): Promise<ClientRegistration>
}

function hasPayload (schema: MessageSchema | undefined): schema is MessageSchema {
  return schema !== undefined && (schema.args !== undefined || schema.kwargs !== undefined)
}

function entry<S> (entries: Readonly<Record<string, S>>, uri: string, what: string): S {
  if (!Object.hasOwn(entries, uri)) throw new TypeError(`"${uri}" is not a ${what} of the contract`)
  return entries[uri]
}

class Client<C extends AnyContract> {
  readonly contract: C
  private readonly adapter: ClientAdapter
  private readonly validate: boolean
  private readonly onInvalidEvent: ((topic: string, issues: ValidationIssue[]) => void) | undefined

  constructor (contract: C, adapter: ClientAdapter, options: TypedClientOptions) {
    this.contract = contract
    this.adapter = adapter
    this.validate = options.validate === true
    this.onInvalidEvent = options.onInvalidEvent
  }

  async call (uri: string, args?: unknown[], kwargs?: Kwargs, options?: TypedCallOptions): Promise<{ args: unknown[], kwargs: Kwargs }> {
    const procedure = entry<ProcedureContract>(this.contract.procedures, uri, 'procedure')
    const result = await this.adapter.call(uri, args, kwargs, { ...options })
    if (this.validate && hasPayload(procedure.result)) {
      const invalid = resultError(validatorFor(procedure.result), result.args, result.kwargs)
      if (invalid !== undefined) throw invalid
    }
    return result
  }

  async subscribe (uri: string, handler: (args: unknown[], kwargs: Kwargs, details: Details) => void, options?: Details): Promise<ClientSubscription> {
    const topic = entry<MessageSchema>(this.contract.topics, uri, 'topic')
    const validator = this.validate && hasPayload(topic) ? validatorFor(topic) : undefined
    return this.adapter.subscribe(uri, (args, kwargs, details) => {
      const issues = validator?.check(args, kwargs)
      if (issues === undefined) handler(args, kwargs, details)
      else this.onInvalidEvent?.(uri, issues)
    }, { ...options })
  }

  async publish (uri: string, args?: unknown[], kwargs?: Kwargs, options?: TypedPublishOptions): Promise<void> {
    entry(this.contract.topics, uri, 'topic')
    return this.adapter.publish(uri, args, kwargs, { ...options })
  }

  async register (uri: string, handler: (args: unknown[], kwargs: Kwargs, details: Details) => unknown, options?: Details): Promise<ClientRegistration> {
    const procedure = entry<ProcedureContract>(this.contract.procedures, uri, 'procedure')
    const validator = this.validate && hasPayload(procedure) ? validatorFor(procedure) : undefined
    return this.adapter.register(uri, async (args, kwargs, details) => {
      const issues = validator?.check(args, kwargs)
      if (issues !== undefined) throw new WampError(ErrorUri.invalidArgument, [describeIssues(issues)], { errors: issues })
      let value: unknown
      try {
        value = await handler(args, kwargs, details)
      } catch (err) {
        throw err instanceof WampError ? err : new WampError(ErrorUri.runtimeError, [err instanceof Error ? err.message : String(err)])
      }
      return value instanceof WampResult ? value : new WampResult(value === undefined ? undefined : [value])
    }, { ...options })
  }
}

/**
 * A client typed by `contract` over a WAMP client library's session: `autobahnAdapter(session, autobahn)`,
 * `wampyAdapter(wampy)`, or any `ClientAdapter`.
 */
export function typedClient<C extends AnyContract> (contract: C, adapter: ClientAdapter, options: TypedClientOptions = {}): TypedClient<C> {
  return new Client(contract, adapter, options) as unknown as TypedClient<C>
}
