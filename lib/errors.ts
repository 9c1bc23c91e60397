import createError from '@fastify/error'

// Programmer and configuration mistakes, thrown synchronously at register time (never on the wire).
export const FST_WAMP_INVALID_OPTION = createError('FST_WAMP_INVALID_OPTION', 'Invalid fastify-wamp option: %s', 500, TypeError)
export const FST_WAMP_INVALID_URI = createError('FST_WAMP_INVALID_URI', 'Invalid WAMP URI "%s" for %s', 500, TypeError)
export const FST_WAMP_DUPLICATE_PROCEDURE = createError('FST_WAMP_DUPLICATE_PROCEDURE', 'Procedure "%s" is already registered in realm "%s"', 500)
export const FST_WAMP_NO_SUCH_REALM = createError('FST_WAMP_NO_SUCH_REALM', 'Realm "%s" is not served by this plugin', 500)
export const FST_WAMP_INVALID_HANDLER = createError('FST_WAMP_INVALID_HANDLER', 'The handler for "%s" must be a function', 500, TypeError)
export const FST_WAMP_SESSION_CLOSED = createError('FST_WAMP_SESSION_CLOSED', 'WAMP session %s is closed', 500)
export const FST_WAMP_FANOUT_CONNECT = createError('FST_WAMP_FANOUT_CONNECT', 'fastify-wamp could not connect its fan-out engine: %s', 500)
export const FST_WAMP_MISSING_DEPENDENCY = createError('FST_WAMP_MISSING_DEPENDENCY', 'fastify-wamp needs the package "%s" for %s: npm install %s', 500)
export const FST_WAMP_WEBSOCKET_ORDER = createError('FST_WAMP_WEBSOCKET_ORDER',
  '@fastify/websocket is registered after fastify-wamp, which registered it already: register it before fastify-wamp to give it options, or not at all (websocket: true routes work as they are)', 500)

// Upgrade refusals, answered as HTTP errors with Fastify's usual body (statusCode, code, error, message).
export const FST_WAMP_NO_SUBPROTOCOL = createError('FST_WAMP_NO_SUBPROTOCOL', 'no supported WAMP subprotocol offered; this server speaks %s', 400)
export const FST_WAMP_TOO_MANY_SESSIONS = createError('FST_WAMP_TOO_MANY_SESSIONS', 'this server is at its limit of %s sessions', 503)

// Long-poll transport requests (lib/transports/longpoll.ts), answered the same way.
export const FST_WAMP_LONGPOLL_BAD_OPEN = createError('FST_WAMP_LONGPOLL_BAD_OPEN', 'long-poll open: %s', 400)
export const FST_WAMP_LONGPOLL_UNKNOWN = createError('FST_WAMP_LONGPOLL_UNKNOWN', 'no such long-poll transport (never opened, or ended)', 404)
