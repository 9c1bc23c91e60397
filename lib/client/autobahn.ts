import type { Details, Kwargs } from '../wire/messages.js'
import { asWampError, isDict } from './adapter.js'
import type { AdapterEndpoint, AdapterEventHandler, ClientAdapter, ClientRegistration, ClientSubscription } from './adapter.js'

// autobahn-js: `session.call/subscribe/publish/register` as they are. autobahn answers a RESULT with one argument
// and no kwargs as the bare value and anything else as an `autobahn.Result`, and sends a YIELD/ERROR with several
// values only for its own Result/Error classes: the adapter needs the module (`import autobahn from 'autobahn'`).

/** The parts of the `autobahn` module the adapter uses. */
export interface AutobahnModule {
  Result: new (args?: unknown[], kwargs?: Kwargs) => object
  Error: new (error: string, args?: unknown[], kwargs?: Kwargs) => object
}

/** The parts of an `autobahn.Session` the adapter uses. */
export interface AutobahnSessionLike {
  call (procedure: string, args?: unknown[] | null, kwargs?: Kwargs | null, options?: Details): PromiseLike<unknown>
  subscribe (topic: string, handler: (args?: unknown[], kwargs?: Kwargs, details?: object) => void, options?: Details): PromiseLike<{ unsubscribe (): PromiseLike<unknown> }>
  publish (topic: string, args?: unknown[] | null, kwargs?: Kwargs | null, options?: Details): PromiseLike<unknown> | undefined
  register (procedure: string, endpoint: (args?: unknown[], kwargs?: Kwargs, details?: object) => unknown, options?: Details): PromiseLike<{ unregister (): PromiseLike<unknown> }>
}

export function autobahnAdapter (session: AutobahnSessionLike, autobahn: AutobahnModule): ClientAdapter {
  return {
    async call (uri, args, kwargs, options) {
      let value: unknown
      try {
        value = await session.call(uri, args ?? [], kwargs ?? {}, options)
      } catch (err) {
        throw asWampError(err)
      }
      if (value instanceof autobahn.Result) {
        const result = value as { args?: unknown, kwargs?: unknown }
        return { args: Array.isArray(result.args) ? result.args : [], kwargs: isDict(result.kwargs) ? result.kwargs : {} }
      }
      // A RESULT without arguments reaches autobahn's caller as `undefined`, the same as `[undefined]`.
      return { args: value === undefined ? [] : [value], kwargs: {} }
    },

    async subscribe (topic, handler: AdapterEventHandler, options): Promise<ClientSubscription> {
      const subscription = await session.subscribe(topic, (args, kwargs, details) => {
        handler(args ?? [], kwargs ?? {}, { ...details as Details })
      }, options)
      return { unsubscribe: async () => { await subscription.unsubscribe() } }
    },

    async publish (topic, args, kwargs, options) {
      try {
        await session.publish(topic, args ?? [], kwargs ?? {}, options)
      } catch (err) {
        throw asWampError(err)
      }
    },

    async register (uri, endpoint: AdapterEndpoint, options): Promise<ClientRegistration> {
      const registration = await session.register(uri, (args, kwargs, details) =>
        endpoint(args ?? [], kwargs ?? {}, { ...details as Details }).then(
          (result) => new autobahn.Result(result.args ?? [], result.kwargs ?? {}),
          (err: { uri: string, args: unknown[], kwargs: Kwargs }) => { throw new autobahn.Error(err.uri, err.args, err.kwargs) }),
      options)
      return { unregister: async () => { await registration.unregister() } }
    }
  }
}
