// The example app: `npm start`. A typed procedure, a class service, a topic handler, and an HTTP route that pushes
// events to every subscribed WAMP client. In-memory, no Redis needed.
import Fastify from 'fastify'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Type from 'typebox'
import fastifyWamp, { procedure, topic } from '../index.js'
import { exampleApi } from './contract.js'
import { serve } from './serve.js'

const Point = Type.Object({ x: Type.Number(), y: Type.Number() })

/** A class service: every decorated method becomes `com.example.geo.<name>`. */
export class GeoService {
  readonly prefix = 'com.example.geo'
  private readonly seen: Array<{ x: number, y: number }> = []

  @procedure({ args: Type.Tuple([Point, Point]) })
  distance ([a, b]: [{ x: number, y: number }, { x: number, y: number }]): number {
    return Math.hypot(a.x - b.x, a.y - b.y)
  }

  @procedure({ kwargs: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1 })) }) })
  recent (_args: unknown[], { limit = 10 }: { limit?: number }): Array<{ x: number, y: number }> {
    return this.seen.slice(-limit)
  }

  @topic({ args: Type.Tuple([Point]) })
  visit ([point]: [{ x: number, y: number }]): void {
    this.seen.push(point)
  }
}

/** What the example serves, for `GET /` and the README. */
export const about = {
  name: 'fastify-wamp example app',
  wamp: { path: '/ws', realm: 'realm1', serializers: ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor'] },
  procedures: {
    'com.example.add': 'add two numbers: [a, b] → a + b',
    'com.example.greet': 'kwargs { name } → a greeting; name "nobody" → error com.example.error.unknown_person',
    'com.example.geo.distance': '[{ x, y }, { x, y }] → the distance between two points',
    'com.example.geo.recent': 'kwargs { limit? } → the last points published to com.example.geo.visit'
  },
  topics: {
    'com.example.geo.visit': 'publish [{ x, y }]: the app records the point',
    'com.example.news': 'subscribe: events pushed by POST /api/notify'
  },
  http: {
    'POST /api/notify': 'body { text } → publishes [text] to com.example.news, answers { delivered }',
    'GET /api/sessions': 'the number of open WAMP sessions'
  }
}

export async function buildApp (options: FastifyServerOptions = { logger: true }, { index = true } = {}): Promise<FastifyInstance> {
  const app = Fastify(options)
  await app.register(fastifyWamp, { path: '/ws', realm: 'realm1' })

  // The contract's procedures (examples/contract.ts): its schemas validate every CALL and type the handlers — `a`
  // and `b` are numbers, the result must be one — and a missing handler would not compile.
  app.wamp.implement(exampleApi, {
    'com.example.add': ([a, b]) => a + b,
    // Keyword arguments, a declared application error, and the calling session.
    'com.example.greet': (_args, { name }, ctx) => {
      if (name === 'nobody') throw exampleApi.error('com.example.error.unknown_person', [`who is ${name}?`])
      return `Hello ${name}, you are session ${ctx.session.id}`
    }
  })

  app.wamp.service(new GeoService())

  app.wamp.onSessionOpen((session) => { app.log.info({ session: session.id }, 'WAMP session opened') })
  app.wamp.onSessionClose((session) => { app.log.info({ session: session.id }, 'WAMP session closed') })

  // Ordinary HTTP routes reach every WAMP subscriber.
  app.post('/api/notify', {
    schema: { body: Type.Object({ text: Type.String() }) }
  }, async (request) => {
    const { text } = request.body as { text: string }
    return { delivered: app.wamp.topic(exampleApi, 'com.example.news').publish([text], { at: new Date().toISOString() }) }
  })
  app.get('/api/sessions', async () => ({ count: app.wamp.sessions.size }))
  // What is running here, for whoever opens http://127.0.0.1:3000/ after `npm start`.
  if (index) app.get('/', async () => about)

  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await buildApp()
  await serve(app)
}
