// The example app plus a live browser page (`npx tsx examples/browser-app.ts`, then open http://127.0.0.1:3000/).
// The page (examples/browser/) uses wampy.js, served from node_modules — no CDN. It calls com.example.add,
// shows news that POST /api/notify publishes, and registers com.example.browser.ask, which POST /api/ask-browser
// calls on every open page.
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Type from 'typebox'
import { buildApp } from './app.js'
import { serve } from './serve.js'

const ASK = 'com.example.browser.ask'
const Answer = { args: Type.Tuple([Type.String()]) }

const pageRoot = fileURLToPath(new URL('./browser/', import.meta.url))
// wampy's browser bundle (it defines `globalThis.Wampy`), next to its ESM entry point.
const wampyRoot = fileURLToPath(new URL('../browser/', import.meta.resolve('wampy')))

export async function buildBrowserApp (options?: FastifyServerOptions): Promise<FastifyInstance> {
  const app = await buildApp(options, { index: false }) // the page is served at /
  await app.register(fastifyStatic, { root: pageRoot, prefix: '/' })
  app.get('/vendor/wampy.min.js', (_request, reply) => reply.sendFile('wampy.min.js', wampyRoot))

  // The server calls a procedure each browser registered, and answers the HTTP request with what they said.
  app.post('/api/ask-browser', {
    schema: { body: Type.Object({ question: Type.String({ minLength: 1 }) }) }
  }, async (request) => {
    const { question } = request.body as { question: string }
    const pages = [...app.wamp.sessions.values()].filter((session) => session.hasRegistration(ASK))
    const answers = await Promise.all(pages.map(async (session) => {
      try {
        const { args: [answer] } = await session.call(ASK, [question], undefined, { result: Answer, timeout: 5000 })
        return { session: session.id, answer }
      } catch (err) {
        return { session: session.id, error: (err as { uri?: string }).uri ?? String(err) }
      }
    }))
    return { answers }
  })
  return app
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = await buildBrowserApp()
  await serve(app)
}
