// Internal symbols, in one place.
export const kSession = Symbol('fastify-wamp.session')
export const kProtocol = Symbol('fastify-wamp.protocol')
export const kTransport = Symbol('fastify-wamp.transport')
