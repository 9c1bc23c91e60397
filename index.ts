import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import { STATUS_CODES } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { FastifyError } from '@fastify/error'
import type { WebSocket } from 'ws'
import { Hub } from './lib/hub.js'
import { normalizeOptions } from './lib/options.js'
import type { FastifyWampOptions } from './lib/options.js'
import { chooseSubprotocol, serializerTable } from './lib/wire/serializers/index.js'
import { kProtocol } from './lib/symbols.js'
import { addAsyncApiRoutes } from './lib/asyncapi/route.js'
import { RawSocketServer } from './lib/transports/rawsocket.js'
import { FST_WAMP_NO_SUBPROTOCOL, FST_WAMP_TOO_MANY_SESSIONS, FST_WAMP_WEBSOCKET_ORDER } from './lib/errors.js'
import type { FastifyWampPluginOptions } from './lib/options.js'
import { registerLongPoll } from './lib/transports/longpoll.js'
import type { Serializer } from './lib/wire/serializers/index.js'
import { registerAdmin } from './lib/admin/route.js'
import { socketFailed } from './lib/wire/transport.js'

const VERSION = '0.1.0'

type UpgradeRequest = IncomingMessage & { [kProtocol]?: string }
type HandleProtocols = (protocols: Set<string>, request: IncomingMessage) => string | false

/** An upgrade refused with Fastify's usual error body, without going through the app's error handler. */
function refuse (reply: FastifyReply, err: FastifyError): void {
  const statusCode = err.statusCode ?? 500
  reply.code(statusCode).send({ statusCode, code: err.code, error: STATUS_CODES[statusCode], message: err.message })
}

async function plugin (fastify: FastifyInstance, opts: FastifyWampPluginOptions): Promise<void> {
  // Fastify's own register options: a plugin wrapped in fastify-plugin gets no context of its own, so the
  // prefix and log settings are applied to the WebSocket route here.
  const { prefix, logLevel, logSerializers, ...wampOptions } = opts
  const options = normalizeOptions(wampOptions, `fastify-wamp/${VERSION}`)
  const serializers = serializerTable(options.serializers)
  const hub = new Hub(fastify, options)

  // The subprotocol is chosen in the route's onRequest hook (so a refusal is a plain HTTP 400); ws only echoes it.
  const handleProtocols = (previous?: HandleProtocols): HandleProtocols => (protocols, request) =>
    (request as UpgradeRequest)[kProtocol] ?? (previous !== undefined ? previous(protocols, request) : (protocols.values().next().value ?? false))

  // GOODBYE system_shutdown must go out before @fastify/websocket's own preClose closes the sockets: hooks of
  // one context run in the order they were added, so ours is added first.
  fastify.addHook('preClose', async () => {
    hub.rawsocket?.stop()
    await hub.shutdown()
  })

  if (fastify.hasDecorator('websocketServer')) {
    fastify.log.warn('fastify-wamp: @fastify/websocket was registered before; its preClose will close sockets before GOODBYE system_shutdown and its maxPayload applies')
    const wss = (fastify as FastifyInstance & { websocketServer: { options: { handleProtocols?: HandleProtocols } } }).websocketServer
    wss.options.handleProtocols = handleProtocols(wss.options.handleProtocols)
  } else {
    await fastify.register(websocket, { options: { maxPayload: options.maxPayload, handleProtocols: handleProtocols() }, errorHandler: onSocketError })
    refuseLateWebsocket(fastify)
  }
  fastify.addHook('onResponse', endRefusedUpgrade)

  fastify.decorate('wamp', hub)
  if (options.rawsocket !== undefined) startRawSocket(fastify, hub, serializers)
  // Connect the fan-out engine now, so `await app.ready()` means connected; close only what it created.
  fastify.addHook('onClose', async () => { await hub.fanout.close() })
  await hub.startFanout()

  fastify.route({
    method: 'GET',
    url: joinPath(prefix, options.path),
    websocket: true,
    ...(logLevel !== undefined && { logLevel }),
    ...(logSerializers !== undefined && { logSerializers }),
    onRequest (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
      if (!request.ws) return done()
      if (hub.connections >= options.maxSessions) {
        hub.refusedFull(request.log, 'upgrade')
        return refuse(reply, new FST_WAMP_TOO_MANY_SESSIONS(options.maxSessions))
      }
      const protocol = chooseSubprotocol(request.headers['sec-websocket-protocol'], serializers)
      if (protocol === undefined) {
        return refuse(reply, new FST_WAMP_NO_SUBPROTOCOL([...serializers.keys()].join(', ')))
      }
      (request.raw as UpgradeRequest)[kProtocol] = protocol
      done()
    },
    handler (socket: WebSocket, request: FastifyRequest) {
      const subprotocol = serializers.get((request.raw as UpgradeRequest)[kProtocol] as string)
      if (subprotocol === undefined) return socket.close(1002)
      hub.accept(socket, request, subprotocol.serializer, subprotocol.batched)
    }
  })

  if (options.asyncapi !== undefined) {
    addAsyncApiRoutes(fastify, hub, options.asyncapi, (path) => joinPath(prefix, path), joinPath(prefix, options.path), [...serializers.keys()])
  }
  if (options.longPoll !== undefined) {
    registerLongPoll(fastify, hub, options, options.longPoll, serializers, joinPath(prefix, options.longPoll.path), {
      ...(logLevel !== undefined && { logLevel }),
      ...(logSerializers !== undefined && { logSerializers })
    })
  }
  if (options.admin !== undefined) registerAdmin(fastify, hub, options.admin, joinPath(prefix, options.admin.path))
}

/**
 * The opt-in RawSocket listener: bound when the app is ready (so `await app.ready()` means listening), closed with
 * it; its sessions get GOODBYE system_shutdown in preClose like the WebSocket ones.
 */
function startRawSocket (fastify: FastifyInstance, hub: Hub, table: ReturnType<typeof serializerTable>): void {
  const serializers = new Map<string, Serializer>()
  for (const [protocol, { serializer, batched }] of table) if (!batched) serializers.set(protocol.slice('wamp.2.'.length), serializer)
  const server = new RawSocketServer(hub, hub.options.rawsocket as NonNullable<typeof hub.options.rawsocket>, serializers)
  hub.rawsocket = server
  fastify.addHook('onReady', async () => { await server.listen() })
  fastify.addHook('onClose', async () => { await server.close() })
}

/**
 * An upgrade request answered over HTTP: Node's HTTP server has let go of its socket, so the answer's end closes
 * nothing. @fastify/websocket destroys it in its own onResponse, but only when its onRequest hook ran — an app hook
 * added before the plugin that refuses the upgrade (401 from an auth check) runs first, and the socket would stay
 * open with no timeout: a file descriptor per refused request, and a fastify.close() that never resolves.
 */
function endRefusedUpgrade (request: FastifyRequest, _reply: FastifyReply, done: () => void): void {
  // Node's parser marks the requests it emitted as 'upgrade' (the property is missing from @types/node).
  if ((request.raw as IncomingMessage & { upgrade?: boolean }).upgrade === true) request.raw.socket.destroy()
  done()
}

/**
 * @fastify/websocket's default terminates a socket on any error. For a frame ws refused (over maxPayload, bad
 * opcode, invalid UTF-8) ws has already started the close handshake with the right code (1009, 1002, 1007):
 * terminating would drop that close frame, and replies still corked with it, so the peer would see 1006.
 */
function onSocketError (this: FastifyInstance, error: Error, socket: WebSocket, request: FastifyRequest): void {
  request.log.debug({ err: error }, 'fastify-wamp: websocket error')
  socketFailed(socket)
}

/**
 * A second @fastify/websocket would throw inside Fastify's decorate from a callback plugin: an uncaught exception
 * that ends the process with a message about a 'ws' decorator. Refuse it where the app calls register instead.
 */
function refuseLateWebsocket (fastify: FastifyInstance): void {
  const register = fastify.register
  const isWebsocket = (plugin: unknown): boolean => {
    const fn = (plugin as { default?: unknown })?.default ?? plugin
    return fn === websocket || (fn as { [key: symbol]: { name?: string } | undefined })?.[Symbol.for('plugin-meta')]?.name === '@fastify/websocket'
  }
  fastify.register = function (this: FastifyInstance, plugin: unknown, ...rest: unknown[]) {
    if (isWebsocket(plugin)) throw new FST_WAMP_WEBSOCKET_ORDER()
    return (register as (...args: unknown[]) => unknown).call(this, plugin, ...rest)
  } as FastifyInstance['register']
}

function joinPath (prefix: string | undefined, path: string): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return path
  return (prefix.endsWith('/') ? prefix.slice(0, -1) : prefix) + path
}

export const fastifyWamp: FastifyPluginAsync<FastifyWampOptions> = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-wamp'
})

export default fastifyWamp

/** The `FST_WAMP_*` error constructors (`@fastify/error`), e.g. `err instanceof errors.FST_WAMP_INVALID_OPTION`. */
export * as errors from './lib/errors.js'
export { WampError, WampResult } from './lib/wire/wamp-error.js'
export { procedure, topic } from './lib/realm/service.js'
export { defineContract } from './lib/contract/index.js'
export { ErrorUri, CloseUri } from './lib/wire/uris.js'
export { MessageType } from './lib/wire/messages.js'
export { jsonSerializer, msgpackSerializer, cborSerializer } from './lib/wire/serializers/index.js'
export { safeEqual } from './lib/session/auth/ticket.js'
export { deriveCraKey } from './lib/session/auth/wampcra.js'
export { LocalFanout } from './lib/cluster/fanout.js'
export { RedisFanout } from './lib/cluster/redis-fanout.js'
export type { RedisClient } from './lib/cluster/redis-fanout.js'
export type { AsyncApiOptions, AsyncApiInfo } from './lib/asyncapi/route.js'
export type { LongPollOptions } from './lib/transports/longpoll.js'
export type { AdminOptions } from './lib/admin/options.js'
export { RemoteSession } from './lib/cluster/remote-session.js'
export type { ClusterStats } from './lib/cluster/fanout.js'
export { prometheusText } from './lib/prometheus.js'
export type { CallTrace, ClientEventTrace, PublishTrace, SessionFields, SessionTrace } from './lib/diagnostics.js'
export * from './types/index.js'
