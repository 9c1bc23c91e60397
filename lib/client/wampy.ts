import type { Details, Kwargs } from '../wire/messages.js'
import { asWampError, isDict } from './adapter.js'
import type { AdapterEndpoint, AdapterEventHandler, ClientAdapter, ClientRegistration, ClientSubscription } from './adapter.js'

// wampy.js: payloads travel as `{ argsList, argsDict }`, errors as `errorUri`/`argsList`/`argsDict` on the way in and
// `error`/`argsList`/`argsDict` on the way out of a procedure.

interface WampyPayload { argsList?: unknown[], argsDict?: Kwargs, details?: Details }

/** The parts of a `Wampy` instance the adapter uses. */
export interface WampyLike {
  call (uri: string, payload?: unknown, options?: Details): Promise<WampyPayload>
  subscribe (topic: string, handler: (event: WampyPayload) => void, options?: Details): Promise<{ subscriptionId: number }>
  unsubscribe (subscriptionId: number, handler?: (event: WampyPayload) => void): Promise<unknown>
  publish (topic: string, payload?: unknown, options?: Details): Promise<unknown>
  register (uri: string, rpc: (invocation: WampyPayload) => unknown, options?: Details): Promise<unknown>
  unregister (uri: string): Promise<unknown>
}

function payload (args: unknown[] | undefined, kwargs: Kwargs | undefined): WampyPayload | undefined {
  if (args === undefined && kwargs === undefined) return undefined
  return kwargs === undefined ? { argsList: args } : { argsList: args ?? [], argsDict: kwargs }
}

export function wampyAdapter (wampy: WampyLike): ClientAdapter {
  return {
    async call (uri, args, kwargs, options) {
      try {
        const result = await wampy.call(uri, payload(args, kwargs), options)
        return { args: result.argsList ?? [], kwargs: isDict(result.argsDict) ? result.argsDict : {} }
      } catch (err) {
        throw asWampError(err)
      }
    },

    async subscribe (topic, handler: AdapterEventHandler, options): Promise<ClientSubscription> {
      // One wampy subscription per topic carries every handler: unsubscribing removes this one.
      const own = (event: WampyPayload): void => { handler(event.argsList ?? [], event.argsDict ?? {}, event.details ?? {}) }
      // wampy 8 keys a subscription by topic and options but forgets the options when UNSUBSCRIBED arrives (and
      // throws), so no options are passed when there are none.
      const { subscriptionId } = await wampy.subscribe(topic, own, Object.keys(options).length > 0 ? options : undefined)
      return { unsubscribe: async () => { await wampy.unsubscribe(subscriptionId, own) } }
    },

    async publish (topic, args, kwargs, options) {
      try {
        await wampy.publish(topic, payload(args, kwargs), options)
      } catch (err) {
        throw asWampError(err)
      }
    },

    async register (uri, endpoint: AdapterEndpoint, options): Promise<ClientRegistration> {
      await wampy.register(uri, (invocation) =>
        endpoint(invocation.argsList ?? [], invocation.argsDict ?? {}, invocation.details ?? {}).then(
          (result) => payload(result.args, result.kwargs),
          (err: { uri: string, args: unknown[], kwargs: Kwargs, message: string }) => {
            throw Object.assign(new Error(err.message), { error: err.uri, argsList: err.args, argsDict: err.kwargs })
          }),
      options)
      return { unregister: async () => { await wampy.unregister(uri) } }
    }
  }
}
