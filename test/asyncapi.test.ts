import t from 'tap'
import type { Test } from 'tap'
import Fastify from 'fastify'
import Type from 'typebox'
import { Parser, DiagnosticSeverity } from '@asyncapi/parser'
import fastifyWamp from '../index.js'
import type { FastifyInstance } from 'fastify'
import { startApp, until } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'

const parser = new Parser()

/** Parses with @asyncapi/parser; fails the test on any error or warning (the "use 3.1.0" hint is information). */
async function validate (t: Test, doc: unknown): Promise<NonNullable<Awaited<ReturnType<Parser['parse']>>['document']>> {
  const { document, diagnostics } = await parser.parse(doc as Parameters<Parser['parse']>[0])
  const serious = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning)
  t.same(serious.map((d) => `${d.code}: ${d.message} at ${d.path.join('/')}`), [], 'no error or warning from @asyncapi/parser')
  if (document === undefined) throw new Error('the parser returned no document')
  return document
}

function api (app: FastifyInstance): void {
  app.wamp.register('com.app.add', {
    description: 'Adds two numbers.',
    args: Type.Tuple([Type.Number(), Type.Number()]),
    result: { args: Type.Tuple([Type.Number()]) },
    errors: {
      'com.app.error.overflow': 'The sum is not a safe number.',
      'com.app.error.bad': { description: 'Bad <input>', kwargs: Type.Object({ why: Type.String() }) }
    }
  }, ([a, b]) => a + b)
  app.wamp.register('com.app.tools.', { description: 'Tools.' }, () => null, { match: 'prefix' })
  app.wamp.subscribe('com.app.chat', { description: 'Chat lines from clients.', args: Type.Tuple([Type.String()]) }, () => {})
  app.wamp.describeTopic('com.app.ticks', { kwargs: Type.Object({ n: Type.Integer() }) })
}

t.test('off by default: no routes', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp)
  t.equal((await app.inject('/asyncapi.json')).statusCode, 404)
  t.equal((await app.inject('/asyncapi.html')).statusCode, 404)
  await app.close()
})

t.test('asyncapi: true serves an AsyncAPI 3 document that @asyncapi/parser accepts', async (t) => {
  const { port } = await startApp(t, { asyncapi: true, reflection: true }, api)
  const res = await fetch(`http://127.0.0.1:${port}/asyncapi.json`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/json/)
  const doc = await res.json() as Record<string, any>
  const document = await validate(t, doc)
  t.equal(doc.asyncapi, '3.0.0')
  t.same(doc.info, { title: 'realm1 (fastify-wamp)', version: '1.0.0' })
  t.match(doc.servers.wamp, {
    host: `127.0.0.1:${port}`,
    protocol: 'ws',
    pathname: '/ws',
    'x-wamp-realm': 'realm1',
    'x-wamp-subprotocols': ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']
  })
  t.ok(doc.servers.wamp['x-wamp-subprotocols'].includes('wamp.2.json.batched'))

  t.same(Object.keys(doc.channels), ['procedure.com.app.add', 'procedure.com.app.tools.', 'topic.com.app.chat', 'topic.com.app.ticks'],
    'the wamp.* procedures (reflection here) are left out by default')
  const add = doc.channels['procedure.com.app.add']
  t.equal(add.address, 'com.app.add')
  t.equal(add.description, 'Adds two numbers.')
  t.same(add.messages.call.payload.properties.args, { type: 'array', additionalItems: false, items: [{ type: 'number' }, { type: 'number' }], minItems: 2 })
  t.same(add.messages.result.payload.properties.args, { type: 'array', additionalItems: false, items: [{ type: 'number' }], minItems: 1 })
  t.same(Object.keys(add.messages), ['call', 'result', 'error1', 'error2'])
  t.match(add.messages.error2, { title: 'com.app.error.bad', summary: 'Bad <input>', 'x-wamp-error': 'com.app.error.bad' })
  t.equal(doc.channels['procedure.com.app.tools.']['x-wamp-match'], 'prefix')

  t.match(doc.operations['procedure.com.app.add'], { action: 'receive', reply: { messages: [{}, {}, {}] } })
  t.match(doc.operations['topic.com.app.chat.publish'], { action: 'receive' }, 'a handled topic: the server receives PUBLISHes')
  t.match(doc.operations['topic.com.app.ticks.event'], { action: 'send' }, 'a described topic: the server sends EVENTs')
  t.notOk(doc.operations['topic.com.app.ticks.publish'])

  // What the parser understood, not only what we wrote.
  t.equal(document.channels().length, 4)
  t.equal(document.operations().length, 4)
  t.same(document.servers().all().map((s) => s.protocol()), ['ws'])
  t.same(document.securitySchemes().all(), [], 'anonymous realm: no security scheme')
})

t.test('the document follows the catalog: a client registration in router mode appears, and goes', async (t) => {
  const { app, port, url } = await startApp(t, { asyncapi: { path: '/api/wamp.json', htmlPath: false }, realms: [{ name: 'realm1', router: true }] })
  const callee = await connectAutobahn(url)
  await callee.session.register('com.peer.echo', (args?: unknown[]) => args?.[0])
  const doc = await (await fetch(`http://127.0.0.1:${port}/api/wamp.json`)).json() as Record<string, any>
  t.match(doc.channels['procedure.com.peer.echo'], { address: 'com.peer.echo', 'x-wamp-provider': 'client', 'x-wamp-invoke': 'single' })
  t.equal((await fetch(`http://127.0.0.1:${port}/asyncapi.html`)).status, 404, 'htmlPath: false serves no page')
  await callee.close()
  await until(() => app.wamp.stats().registrations === 0, 2000, 'the registration to go')
  const after = await (await fetch(`http://127.0.0.1:${port}/api/wamp.json`)).json() as Record<string, any>
  t.same(after.channels, {})
})

t.test('auth methods become security schemes; info, host and extra schemes come from the options', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, {
    auth: {
      ticket: { authenticate: () => ({ authrole: 'user' }) },
      wampcra: { authenticate: () => ({ secret: 'secret', authrole: 'user' }) },
      anonymous: { authrole: 'guest' }
    },
    asyncapi: {
      info: { title: 'Shop API', version: '2.1.0', description: 'Orders & stock.' },
      host: 'api.example.com',
      securitySchemes: { apiKey: { type: 'httpApiKey', in: 'query', name: 'key', description: 'Given by the API gateway.' } }
    }
  })
  api(app)
  const doc = (await app.inject('/asyncapi.json')).json()
  const document = await validate(t, doc)
  t.same(doc.info, { title: 'Shop API', version: '2.1.0', description: 'Orders & stock.' })
  t.equal(doc.servers.wamp.host, 'api.example.com')
  t.same(Object.keys(doc.components.securitySchemes), ['ticket', 'wampcra', 'apiKey'])
  t.match(doc.servers.wamp.description, /joins as authrole `guest`/)
  t.same(document.securitySchemes().all().map((s) => s.type()).sort(), ['httpApiKey', 'userPassword', 'userPassword'])

  const page = await app.inject('/asyncapi.html')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /<title>Shop API<\/title>/)
  t.match(page.body, /ws:\/\/api\.example\.com\/ws/)
  t.match(page.body, /com\.app\.add/)
  t.match(page.body, /Bad &#60;input&#62;/, 'text from the schemas is escaped')
  t.notMatch(page.body, /<script|<link|https?:\/\/(?!api\.example\.com)/, 'self-contained: no script, no stylesheet link, no CDN')
  await app.close()
})

t.test('the routes are ordinary routes: the app\'s hooks guard them', async (t) => {
  const app = Fastify({ logger: false })
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/docs/') && request.headers.authorization !== 'Bearer ok') await reply.code(401).send({ error: 'no' })
  })
  await app.register(fastifyWamp, { asyncapi: { path: '/docs/asyncapi.json', htmlPath: '/docs/asyncapi.html' } })
  t.equal((await app.inject('/docs/asyncapi.json')).statusCode, 401)
  t.equal((await app.inject('/docs/asyncapi.html')).statusCode, 401)
  t.equal((await app.inject({ url: '/docs/asyncapi.json', headers: { authorization: 'Bearer ok' } })).statusCode, 200)
  await app.close()
})

t.test('the register prefix applies; a URI with braces gets no address; options are validated', async (t) => {
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp, { prefix: '/v1', asyncapi: true })
  app.wamp.register('com.app.{odd}', () => 1)
  const res = await app.inject('/v1/asyncapi.json')
  t.equal(res.statusCode, 200)
  const doc = res.json()
  t.equal(doc.servers.wamp.pathname, '/v1/ws')
  t.equal(doc.channels['procedure.com.app._odd_'].address, null, 'braces would read as a channel parameter')
  await validate(t, doc)
  await app.close()

  for (const asyncapi of [{ path: 'x' }, { nope: 1 }, { info: { title: 1 } }, { htmlPath: '/a', path: '/a' }, { securitySchemes: { a: {} } }, 'yes']) {
    const bad = Fastify({ logger: false })
    await t.rejects(async () => { await bad.register(fastifyWamp, { asyncapi } as never).ready() }, { code: 'FST_WAMP_INVALID_OPTION' }, JSON.stringify(asyncapi))
    await bad.close()
  }
  const unknownRealm = Fastify({ logger: false })
  await t.rejects(async () => { await unknownRealm.register(fastifyWamp, { asyncapi: { realm: 'nope' } }).ready() }, { code: 'FST_WAMP_NO_SUCH_REALM' })
  await unknownRealm.close()
})
