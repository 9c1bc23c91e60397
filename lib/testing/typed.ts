import type { AnyContract } from '../contract/types.js'
import { typedClient } from '../client/typed-client.js'
import type { TypedClient, TypedClientOptions } from '../client/typed-client.js'
import type { ClientAdapter } from '../client/adapter.js'
import type { TestClient } from './client.js'

// The testing client typed by a contract: the same `TypedClient` the browser gets from `fastify-wamp/client`,
// riding on a TestClient (which stays usable for raw calls, `nextEvent()`, `errors`…).

function testClientAdapter (client: TestClient): ClientAdapter {
  return {
    call: async (uri, args, kwargs, options) => {
      const result = await client.call(uri, args, kwargs, { options })
      return { args: result.args, kwargs: result.kwargs }
    },
    subscribe: (topic, handler, options) => client.subscribe(topic, (args, kwargs, event) => handler(args, kwargs, event.details), options),
    publish: async (topic, args, kwargs, options) => { await client.publish(topic, args, kwargs, options) },
    register: (uri, endpoint, options) => client.register(uri, (args, kwargs, invocation) => endpoint(args, kwargs, invocation.details), { options })
  }
}

/** `typed(await connect(app), contract)`: calls, subscriptions, publications and registrations typed by the contract. */
export function typed<C extends AnyContract> (client: TestClient, contract: C, options?: TypedClientOptions): TypedClient<C> {
  return typedClient(contract, testClientAdapter(client), options)
}
