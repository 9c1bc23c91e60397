// `fastify-wamp/client`: a contract's procedures and topics, typed, over the WAMP client you already use. Browser-safe.
//
//   import { typedClient, wampyAdapter } from 'fastify-wamp/client'
//   import { api } from './contract.js'                       // defineContract({ … }), shared with the server
//   const client = typedClient(api, wampyAdapter(wampy))
//   const { args: [sum] } = await client.call('com.app.add', [2, 3])   // sum: number

export { defineContract, WampError, WampResult } from '../contract/index.js'
export type * from '../contract/index.js'
export { typedClient } from './typed-client.js'
export type { TypedCallOptions, TypedClient, TypedClientOptions, TypedEndpoint, TypedEventHandler, TypedPublishOptions } from './typed-client.js'
export type { AdapterEndpoint, AdapterEventHandler, ClientAdapter, ClientRegistration, ClientSubscription } from './adapter.js'
export { autobahnAdapter } from './autobahn.js'
export type { AutobahnModule, AutobahnSessionLike } from './autobahn.js'
export { wampyAdapter } from './wampy.js'
export type { WampyLike } from './wampy.js'
export type { ValidationIssue } from '../validation.js'
export { ErrorUri } from '../wire/uris.js'
