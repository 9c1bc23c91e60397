import type { Details, Kwargs } from '../wire/messages.js'
import { WampError, WampResult } from '../wire/wamp-error.js'

// What the typed client needs from a WAMP client library: four operations in one normalised shape (positional and
// keyword arguments, rejections as WampError). An adapter translates; the library does all the WAMP.

/** A procedure handler as the typed client gives it to an adapter: it resolves with a WampResult or rejects with a WampError. */
export type AdapterEndpoint = (args: unknown[], kwargs: Kwargs, details: Details) => Promise<WampResult>

export type AdapterEventHandler = (args: unknown[], kwargs: Kwargs, details: Details) => void

export interface ClientSubscription { unsubscribe (): Promise<void> }
export interface ClientRegistration { unregister (): Promise<void> }

export interface ClientAdapter {
  /** Resolves with the RESULT's arguments; rejects with a WampError for an ERROR. */
  call (uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined, options: Details): Promise<{ args: unknown[], kwargs: Kwargs }>
  subscribe (topic: string, handler: AdapterEventHandler, options: Details): Promise<ClientSubscription>
  /** Resolves once sent (or acknowledged, with `{ acknowledge: true }`). */
  publish (topic: string, args: unknown[] | undefined, kwargs: Kwargs | undefined, options: Details): Promise<void>
  register (uri: string, endpoint: AdapterEndpoint, options: Details): Promise<ClientRegistration>
}

/** A WampError from an error object that carries a URI under one of the names the WAMP libraries use. */
export function asWampError (err: unknown): unknown {
  if (err instanceof WampError || err === null || typeof err !== 'object') return err
  const e = err as { error?: unknown, errorUri?: unknown, args?: unknown, argsList?: unknown, kwargs?: unknown, argsDict?: unknown }
  const uri = typeof e.errorUri === 'string' ? e.errorUri : e.error
  if (typeof uri !== 'string') return err
  const args = Array.isArray(e.args) ? e.args : Array.isArray(e.argsList) ? e.argsList : []
  const kwargs = isDict(e.kwargs) ? e.kwargs : isDict(e.argsDict) ? e.argsDict : {}
  return new WampError(uri, args, kwargs)
}

export function isDict (value: unknown): value is Kwargs {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

export { WampError, WampResult }
