// Retained events and event history: a small sensor dashboard. The app publishes each reading with `retain: true`,
// so a dashboard that opens later shows the current value at once (SUBSCRIBE `get_retained: true`); the alerts topic
// keeps a history, so a dashboard can fetch the alerts it missed (`wamp.subscription.get_events`).
// Run: `npx tsx examples/retained.ts`, then POST readings to /readings/:sensor and connect to ws://127.0.0.1:3000/ws.
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Type from 'typebox'
import fastifyWamp from '../index.js'
import { serve } from './serve.js'

export async function buildSensorApp (options: FastifyServerOptions = { logger: true }): Promise<FastifyInstance> {
  const app = Fastify(options)
  await app.register(fastifyWamp, {
    realms: [{
      name: 'sensors',
      // At most 1 000 sensors' last readings; older sensors are forgotten first.
      retention: { maxTopics: 1000 },
      // The last 50 alerts of every sensor (one rule for the whole pattern).
      history: [{ topic: 'com.sensors.alert.', match: 'prefix', limit: 50 }]
    }]
  })

  app.post('/readings/:sensor', {
    schema: {
      params: Type.Object({ sensor: Type.String({ pattern: '^[a-z0-9_]+$' }) }),
      body: Type.Object({ celsius: Type.Number() })
    }
  }, async (request) => {
    const { sensor } = request.params as { sensor: string }
    const { celsius } = request.body as { celsius: number }
    const realm = app.wamp.realm('sensors')
    // The latest reading is retained: it is what a new subscriber gets first.
    realm.publishToAll(`com.sensors.reading.${sensor}`, [celsius], undefined, { retain: true })
    // Alerts are kept in the history (publications restricted by authid/authrole are filtered per caller there too).
    if (celsius > 30) realm.publishToAll(`com.sensors.alert.${sensor}`, [`${sensor} is at ${celsius} °C`])
    return { ok: true }
  })
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await buildSensorApp()
  await serve(app)
}
