// Presence and moderation: clients announce themselves on `com.chat.presence` and leave a testament — an "offline"
// event the server publishes for them however they go (closed tab, lost network, kill, server restart). An admin
// (ticket login) can kick users (`wamp.session.kill_by_authid`), and the app can mute a user by revoking their
// subscription to the chat room. Testaments and session control come with the WAMP Meta API (`metaApi: true`);
// testaments need a realm whose client publications reach clients (`broker`).
// Run: `npx tsx examples/presence.ts`, then connect clients to ws://127.0.0.1:3000/ws, realm `chat`.
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Type from 'typebox'
import fastifyWamp, { safeEqual } from '../index.js'
import { serve } from './serve.js'

const ADMIN_TICKET = process.env.ADMIN_TICKET ?? 'change-me'

export async function buildPresenceApp (options: FastifyServerOptions = { logger: true }): Promise<FastifyInstance> {
  const app = Fastify(options)
  await app.register(fastifyWamp, {
    metaApi: true,
    realms: [{
      name: 'chat',
      broker: { allow: ['com.chat.'] },
      auth: {
        anonymous: { authrole: 'user' },
        ticket: { authenticate: (ticket, ctx) => ctx.authid === 'admin' && safeEqual(ticket, ADMIN_TICKET) ? { authrole: 'admin' } : false }
      },
      permissions: {
        // Users chat and leave testaments; only the admin may kill sessions or list them.
        user: [
          { uri: 'com.chat.', match: 'prefix', allow: ['publish', 'subscribe'] },
          { uri: 'wamp.session.add_testament', allow: ['call'] },
          { uri: 'wamp.session.flush_testaments', allow: ['call'] }
        ],
        admin: [{ uri: '', match: 'prefix', allow: ['call', 'subscribe', 'publish'] }]
      }
    }]
  })
  // Which subscription is a session's seat in the room (a subscription id is what revocation names).
  app.wamp.onSubscribe((session, subscription) => {
    if (subscription.topic === 'com.chat.room') session.data.room = subscription.id
  })
  // The admin mutes a user: their subscription to the room ends — UNSUBSCRIBED with the reason for clients that
  // announce subscription_revocation (autobahn-js and autobahn-python do), the meta events either way.
  app.wamp.realm('chat').register('com.chat.mute', { args: Type.Tuple([Type.Integer()]) }, ([id], _kwargs, ctx) => {
    if (ctx.session.authrole !== 'admin') return false
    const session = app.wamp.realm('chat').sessions.get(id)
    const room = session?.data.room
    return typeof room === 'number' && session !== undefined && session.revokeSubscription(room, 'com.chat.muted')
  })
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await buildPresenceApp()
  await serve(app)
}
