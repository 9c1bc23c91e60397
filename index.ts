import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import type { IncomingMessage } from 'node:http'
import type { WebSocket } from 'ws'
import { Hub } from './lib/hub.js'
import { normalizeOptions } from './lib/options.js'
import type { FastifyWampOptions } from './lib/options.js'
import { chooseSubprotocol, serializerTable } from './lib/serializers/index.js'
import { kProtocol } from './lib/symbols.js'

const VERSION = '0.1.0'

type UpgradeRequest = IncomingMessage & { [kProtocol]?: string }
type HandleProtocols = (protocols: Set<string>, request: IncomingMessage) => string | false

async function plugin (fastify: FastifyInstance, opts: FastifyWampOptions): Promise<void> {
  const options = normalizeOptions(opts, `fastify-wamp/${VERSION}`)
  const serializers = serializerTable(options.serializers)
  const hub = new Hub(fastify, options)

  // The subprotocol is chosen in the route's onRequest hook (so a refusal is a plain HTTP 400); ws only echoes it.
  const handleProtocols = (previous?: HandleProtocols): HandleProtocols => (protocols, request) =>
    (request as UpgradeRequest)[kProtocol] ?? (previous !== undefined ? previous(protocols, request) : (protocols.values().next().value ?? false))

  // GOODBYE system_shutdown must go out before @fastify/websocket's own preClose closes the sockets: hooks of
  // one context run in the order they were added, so ours is added first.
  fastify.addHook('preClose', async () => { await hub.shutdown() })

  if (fastify.hasDecorator('websocketServer')) {
    fastify.log.warn('fastify-wamp: @fastify/websocket was registered before; its preClose will close sockets before GOODBYE system_shutdown and its maxPayload applies')
    const wss = (fastify as FastifyInstance & { websocketServer: { options: { handleProtocols?: HandleProtocols } } }).websocketServer
    wss.options.handleProtocols = handleProtocols(wss.options.handleProtocols)
  } else {
    await fastify.register(websocket, { options: { maxPayload: options.maxPayload, handleProtocols: handleProtocols() } })
  }

  fastify.decorate('wamp', hub)
  // Connect the fan-out engine now, so `await app.ready()` means connected; close only what it created.
  fastify.addHook('onClose', async () => { await hub.fanout.close() })
  await hub.startFanout()

  fastify.route({
    method: 'GET',
    url: options.path,
    websocket: true,
    onRequest (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
      if (!request.ws) return done()
      if (hub.connections >= options.maxSessions) {
        request.log.warn({ maxSessions: options.maxSessions }, 'fastify-wamp: upgrade refused, maxSessions reached')
        reply.code(503).send({ error: 'Service Unavailable', message: `this server is at its limit of ${options.maxSessions} sessions` })
        return
      }
      const protocol = chooseSubprotocol(request.headers['sec-websocket-protocol'], serializers)
      if (protocol === undefined) {
        reply.code(400).send({ error: 'Bad Request', message: `no supported WAMP subprotocol offered; this server speaks ${[...serializers.keys()].join(', ')}` })
        return
      }
      (request.raw as UpgradeRequest)[kProtocol] = protocol
      done()
    },
    handler (socket: WebSocket, request: FastifyRequest) {
      const serializer = serializers.get((request.raw as UpgradeRequest)[kProtocol] as string)
      if (serializer === undefined) return socket.close(1002)
      hub.accept(socket, request, serializer)
    }
  })
}

export const fastifyWamp: FastifyPluginAsync<FastifyWampOptions> = fp(plugin, {
  fastify: '5.x',
  name: 'fastify-wamp'
})

export default fastifyWamp

export { WampError, WampResult } from './lib/wamp-error.js'
export { procedure, topic } from './lib/service.js'
export { ErrorUri, CloseUri } from './lib/uris.js'
export { MessageType } from './lib/messages.js'
export { jsonSerializer, msgpackSerializer, cborSerializer } from './lib/serializers/index.js'
export { safeEqual } from './lib/auth/ticket.js'
export { deriveCraKey } from './lib/auth/wampcra.js'
export { LocalFanout } from './lib/fanout/index.js'
export { RedisFanout } from './lib/fanout/redis.js'
export { RemoteSession } from './lib/remote-session.js'
export type { ClusterRpc, ClusterStats } from './lib/fanout/cluster-rpc.js'
export * from './types/index.js'
