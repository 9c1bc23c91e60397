import type { Details, Kwargs } from '../wire/messages.js'
import type { MatchPolicy } from '../wire/uris.js'
import type { ArgsOf, KwargsOf, PayloadSchema } from '../validation.js'

// The public types of `fastify-wamp/testing`.

export interface CallOptions<S extends PayloadSchema | undefined = undefined> {
  /** A TypeBox schema the RESULT must match; it also types the result. */
  result?: S
  /** WAMP call timeout in ms, sent as CALL.Options.timeout (the server answers wamp.error.timeout). */
  timeout?: number
  /** Asks for progressive results (`receive_progress`) and receives each one. */
  onProgress?: (result: { args: unknown[], kwargs: Kwargs }) => void
  /** Aborting it sends CANCEL with `cancelMode` (default `kill`); the promise settles from the server's ERROR. */
  signal?: AbortSignal
  cancelMode?: 'skip' | 'kill' | 'killnowait'
  /** Extra CALL.Options, sent as given. */
  options?: Details
}

export interface CallResult<S = undefined> { args: ArgsOf<S>, kwargs: KwargsOf<S>, details: Details }

export interface ReceivedEvent<A = unknown[], K = Kwargs> {
  topic: string
  args: A
  kwargs: K
  details: Details
  subscription: number
  publication: number
}

export type EventHandler<A = unknown[], K = Kwargs> = (args: A, kwargs: K, event: ReceivedEvent<A, K>) => unknown

export interface SubscribeOptions<S extends PayloadSchema | undefined = undefined> {
  match?: MatchPolicy
  /** Types the handler's arguments (no validation: the test sees what arrived). */
  schema?: S
}

export interface Subscription { readonly id: number, readonly topic: string, unsubscribe (): Promise<void> }

export interface PublishOptions {
  /** Wait for PUBLISHED and resolve with the publication id. */
  acknowledge?: boolean
  exclude_me?: boolean
  exclude?: number[]
  eligible?: number[]
  disclose_me?: boolean
  [option: string]: unknown
}

export interface InvocationDetails {
  procedure: string
  /** INVOCATION.Details as sent by the server. */
  details: Details
  /** Aborted when the server sends INTERRUPT. */
  signal: AbortSignal
  /** Sends a progressive YIELD (only meaningful when the server asked `receive_progress`). */
  progress (args?: unknown[], kwargs?: Kwargs): void
}

export type InvocationHandler<A = unknown[], K = Kwargs> = (args: A, kwargs: K, details: InvocationDetails) => unknown

export interface RegisterOptions<S extends PayloadSchema | undefined = undefined> {
  /** Validates INVOCATION arguments (ERROR wamp.error.invalid_argument otherwise) and types them. */
  schema?: S
  options?: Details
}

export interface Registration { readonly id: number, readonly uri: string, unregister (): Promise<void> }

export interface CloseInfo {
  /** WebSocket close code. */
  code: number
  /** The GOODBYE or ABORT reason URI, if one was received. */
  reason: string | undefined
}

/** Answers a CHALLENGE with the signature (ticket: the ticket; wampcra: the HMAC of the challenge). */
export type ChallengeHandler = (method: string, extra: Details) => string | Promise<string>
