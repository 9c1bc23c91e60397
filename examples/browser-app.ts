// The example app plus a live browser page (`npx tsx examples/browser-app.ts`, then open http://127.0.0.1:3000/).
// The page (examples/browser/) uses wampy.js, served from node_modules — no CDN — through the typed client of
// `fastify-wamp/client` and the contract in examples/contract.ts. It calls com.example.add, shows news that
// POST /api/notify publishes, and registers com.example.browser.ask, which POST /api/ask-browser calls on every
// open page. The page's TypeScript is bundled once, in memory, by esbuild (what tsx runs on) when the app starts.
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import { build } from 'esbuild'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import Type from 'typebox'
import { buildApp } from './app.js'
import { pageApi } from './contract.js'
import { serve } from './serve.js'

const ASK = 'com.example.browser.ask'
const Answer = pageApi.procedures[ASK].result

const pageRoot = fileURLToPath(new URL('./browser/', import.meta.url))

/** examples/browser/app.ts with the contract, the typed client and TypeBox, as one script for the page. */
export async function bundlePage (): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./browser/app.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent'
  })
  return result.outputFiles[0].text
}
// wampy's browser bundle (it defines `globalThis.Wampy`), next to its ESM entry point.
const wampyRoot = fileURLToPath(new URL('../browser/', import.meta.resolve('wampy')))

export async function buildBrowserApp (options?: FastifyServerOptions): Promise<FastifyInstance> {
  const script = await bundlePage()
  const app = await buildApp(options, { index: false }) // the page is served at /
  await app.register(fastifyStatic, { root: pageRoot, prefix: '/', allowedPath: (path) => !path.endsWith('.ts') })
  app.get('/app.js', (_request, reply) => reply.type('text/javascript; charset=utf-8').send(script))
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
