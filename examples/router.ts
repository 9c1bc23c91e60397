// Router mode: the Fastify app is the WAMP router between devices and browsers — no second server. A device
// (say a Raspberry Pi with autobahn-js) logs in with a ticket and REGISTERs its procedures; a browser (wampy.js,
// autobahn-js) CALLs them through the app; the app calls them too, from an HTTP route.
// Run: `npx tsx examples/router.ts`, then connect clients to ws://127.0.0.1:3000/ws, realm `home`.
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Type from 'typebox'
import fastifyWamp, { safeEqual, WampError } from '../index.js'
import { serve } from './serve.js'

/** Device tokens by device id (in real life: a database, or cryptosign keys). */
const DEVICES: Record<string, string> = { kitchen_lamp: 'lamp-secret', garage_door: 'door-secret' }

export async function buildRouterApp (options: FastifyServerOptions = { logger: true }): Promise<FastifyInstance> {
  const app = Fastify(options)
  await app.register(fastifyWamp, {
    realms: [{
      name: 'home',
      // Devices offer procedures under com.home.device.; a registration by anybody else stays private to the app.
      router: { allow: [{ uri: 'com.home.device.', roles: ['device'] }] },
      auth: {
        anonymous: { authrole: 'browser' },
        ticket: {
          authenticate: (ticket, ctx) => {
            const expected = DEVICES[ctx.authid ?? '']
            return expected !== undefined && safeEqual(ticket, expected) ? { authrole: 'device' } : false
          }
        }
      },
      // Devices register their own procedures; browsers call devices and the app.
      permissions: {
        device: [{ uri: 'com.home.device.', match: 'prefix', allow: ['register'] }],
        browser: [{ uri: 'com.home.', match: 'prefix', allow: ['call'] }]
      }
    }]
  })

  // The app's own procedure, next to the devices': which devices are online right now.
  app.wamp.register('com.home.devices', () => {
    const online = new Set<string>()
    for (const session of app.wamp.sessions.values()) if (session.authrole === 'device') online.add(session.authid)
    return [...online].sort()
  })

  // The app calls a device like any client would (same options and errors as session.call()).
  app.post('/api/devices/:device/:action', {
    schema: { params: Type.Object({ device: Type.String({ pattern: '^[a-z_]+$' }), action: Type.String({ pattern: '^[a-z_]+$' }) }) }
  }, async (request, reply) => {
    const { device, action } = request.params as { device: string, action: string }
    try {
      const result = await app.wamp.call(`com.home.device.${device}.${action}`, [], request.body as Record<string, unknown> ?? {}, { timeout: 5000 })
      return { result: result.args[0] ?? null }
    } catch (err) {
      if (!(err instanceof WampError)) throw err
      return await reply.code(err.uri === 'wamp.error.no_such_procedure' ? 404 : 502).send({ error: err.uri, args: err.args })
    }
  })
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await buildRouterApp()
  await serve(app)
}
