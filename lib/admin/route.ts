import { randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Hub } from '../hub.js'
import type { NormalizedAdminOptions } from './options.js'
import { adminSnapshot } from './snapshot.js'
import { adminPage } from './page.js'

// The admin dashboard's routes (docs/observability.md, "Admin dashboard"), all ordinary Fastify routes behind the
// configured preHandler (and whatever hooks the app has in the plugin's scope):
//   GET  <path>                    the page (one self-contained HTML document, inline CSS and JS under a nonce CSP)
//   GET  <path>/events             Server-Sent Events: a snapshot every `interval` ms
//   GET  <path>/snapshot           the same snapshot once, as JSON
//   POST <path>/sessions/:id/kill  kills a session (header `x-wamp-admin: kill` required: a cross-site form or
//                                  simple request cannot set it, so it needs a CORS preflight the app never grants)

export function registerAdmin (fastify: FastifyInstance, hub: Hub, admin: NormalizedAdminOptions, base: string): void {
  const streams = new Set<ServerResponse>()
  const guard = admin.preHandler.length > 0 ? { preHandler: admin.preHandler } : {}

  fastify.get(base, guard, async (_request, reply) => {
    const nonce = randomBytes(16).toString('base64')
    reply.header('content-security-policy', `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`)
    reply.header('cache-control', 'no-store')
    reply.header('x-content-type-options', 'nosniff')
    reply.type('text/html; charset=utf-8')
    return adminPage(base, nonce)
  })

  fastify.get(`${base}/snapshot`, guard, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return await adminSnapshot(hub, admin.maxSessions, true)
  })

  fastify.get(`${base}/events`, guard, (request: FastifyRequest, reply: FastifyReply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    streams.add(res)
    let first = true
    let busy = false
    const push = (): void => {
      if (busy) return
      busy = true
      adminSnapshot(hub, admin.maxSessions, first).then((snapshot) => {
        first = false
        if (!res.writableEnded) res.write(`data: ${JSON.stringify(snapshot)}\n\n`)
      }, (err: unknown) => { request.log.warn({ err }, 'fastify-wamp: admin snapshot failed') }).finally(() => { busy = false })
    }
    push()
    const timer = setInterval(push, admin.interval)
    res.on('close', () => {
      clearInterval(timer)
      streams.delete(res)
    })
  })

  fastify.post<{ Params: { id: string } }>(`${base}/sessions/:id/kill`, guard, async (request, reply) => {
    if (request.headers['x-wamp-admin'] !== 'kill') return await reply.code(403).send({ error: 'the x-wamp-admin: kill header is required' })
    const session = hub.sessions.get(Number(request.params.id))
    if (session === undefined) return await reply.code(404).send({ error: `no session ${request.params.id} on this instance` })
    request.log.info({ wampSession: session.id, authid: session.authid, realm: session.joined?.name }, 'fastify-wamp: session killed from the admin dashboard')
    session.kill(undefined, 'killed by an administrator')
    return await reply.code(204).send()
  })

  // Open event streams would hold the server open: they end when Fastify closes.
  fastify.addHook('preClose', async () => {
    for (const res of streams) res.end()
    streams.clear()
  })
}
