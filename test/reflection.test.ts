import t from 'tap'
import Fastify from 'fastify'
import Type from 'typebox'
import fastifyWamp from '../index.js'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WampSession } from '../index.js'
import { startApp, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import { connect } from '../lib/testing/index.js'

type Roles = Record<string, { features: Record<string, unknown> }>
const rolesOf = (welcome: unknown[]): Roles => (welcome[2] as { roles: Roles }).roles

let nextId = 100
/** One CALL over raw frames; the RESULT or ERROR that answers it. */
async function call (client: RawClient, uri: string, args: unknown[] = []): Promise<unknown[]> {
  const id = nextId++
  client.send([MSG.CALL, id, {}, uri, args])
  const answer = await client.next()
  if (answer[1] !== id && answer[2] !== id) throw new Error(`unexpected answer ${JSON.stringify(answer)}`)
  return answer
}

const Add = {
  description: 'Adds two numbers.',
  args: Type.Tuple([Type.Number(), Type.Number()]),
  result: { args: Type.Tuple([Type.Number()]) },
  errors: {
    'com.app.error.overflow': 'The sum is not a safe number.',
    'com.app.error.bad': { description: 'Bad input', kwargs: Type.Object({ why: Type.String() }) }
  }
}

function catalogApp (app: FastifyInstance): void {
  app.wamp.register('com.app.add', Add, ([a, b]) => a + b)
  app.wamp.register('com.app.echo', (args) => args[0])
  app.wamp.register('com.app.admin.', { description: 'Admin tools.' }, () => null, { match: 'prefix' })
  app.wamp.subscribe('com.app.chat', { args: Type.Tuple([Type.String()]) }, () => {})
  app.wamp.describeTopic('com.app.ticks', { description: 'A tick per second.', kwargs: Type.Object({ n: Type.Integer() }) })
}

t.test('reflection is off by default: not announced, not callable', async (t) => {
  const { url } = await startApp(t, {}, catalogApp)
  const { welcome, client } = await connectRaw(url)
  const roles = rolesOf(welcome)
  for (const role of ['dealer', 'broker']) {
    t.notOk(roles[role].features.reflection, `${role} does not announce reflection`)
  }
  t.notOk(roles.dealer.features.procedure_reflection)
  t.notOk(roles.broker.features.topic_reflection)
  t.match(await call(client, 'wamp.reflection.procedure.list'), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_procedure'])
  await client.close()
})

t.test('reflection: true announces it on both roles and describes procedures with JSON Schema', async (t) => {
  const { url } = await startApp(t, { reflection: true }, catalogApp)
  const { welcome, client } = await connectRaw(url)
  const roles = rolesOf(welcome)
  t.equal(roles.dealer.features.procedure_reflection, true)
  t.equal(roles.dealer.features.reflection, true)
  t.equal(roles.broker.features.topic_reflection, true)
  t.equal(roles.broker.features.reflection, true)

  const [, , , [list]] = await call(client, 'wamp.reflection.procedure.list') as [number, number, unknown, [string[]]]
  t.same(list.filter((u) => !u.startsWith('wamp.')), ['com.app.add', 'com.app.admin.', 'com.app.echo'])
  t.ok(list.includes('wamp.reflection.procedure.describe'), 'the reflection procedures describe themselves too')

  const [type, , , [add]] = await call(client, 'wamp.reflection.procedure.describe', ['com.app.add']) as [number, number, unknown, [unknown]]
  t.equal(type, MSG.RESULT)
  t.same(add, {
    uri: 'com.app.add',
    match: 'exact',
    provider: 'application',
    description: 'Adds two numbers.',
    args: { type: 'array', additionalItems: false, items: [{ type: 'number' }, { type: 'number' }], minItems: 2 },
    result: { args: { type: 'array', additionalItems: false, items: [{ type: 'number' }], minItems: 1 } },
    errors: {
      'com.app.error.overflow': { description: 'The sum is not a safe number.' },
      'com.app.error.bad': { description: 'Bad input', kwargs: { type: 'object', required: ['why'], properties: { why: { type: 'string' } } } }
    }
  }, 'plain JSON Schema, nothing TypeBox-specific')
  t.same((await call(client, 'wamp.reflection.procedure.describe', ['com.app.echo']))[3], [{ uri: 'com.app.echo', match: 'exact', provider: 'application' }],
    'a procedure without a schema is described by what is known')
  t.same((await call(client, 'wamp.reflection.procedure.describe', ['com.app.admin.', { match: 'prefix' }]))[3],
    [{ uri: 'com.app.admin.', match: 'prefix', provider: 'application', description: 'Admin tools.' }])
  t.match(await call(client, 'wamp.reflection.procedure.describe', ['com.app.nope']), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_procedure'])
  t.match(await call(client, 'wamp.reflection.procedure.describe', ['com.app.add', { match: 'prefix' }]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_procedure'])
  t.match(await call(client, 'wamp.reflection.procedure.describe', [42]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.invalid_argument'])
  t.match(await call(client, 'wamp.reflection.procedure.describe', ['com.app.add', { match: 'glob' }]), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.invalid_argument'])
  await client.close()
})

t.test('topics: handled ones and described ones, with their payload schemas', async (t) => {
  const { app, url } = await startApp(t, { reflection: true }, catalogApp)
  const { client } = await connectRaw(url)
  t.same((await call(client, 'wamp.reflection.topic.list'))[3], [['com.app.chat', 'com.app.ticks']])
  t.same((await call(client, 'wamp.reflection.topic.describe', ['com.app.chat']))[3], [{
    uri: 'com.app.chat', handled: true, described: false, args: { type: 'array', additionalItems: false, items: [{ type: 'string' }], minItems: 1 }
  }])
  app.wamp.describeTopic('com.app.chat', { description: 'Chat lines.' })
  t.same((await call(client, 'wamp.reflection.topic.describe', ['com.app.chat']))[3], [{
    uri: 'com.app.chat', handled: true, described: true, description: 'Chat lines.', args: { type: 'array', additionalItems: false, items: [{ type: 'string' }], minItems: 1 }
  }], 'describeTopic adds to the handler\'s schema, field by field')
  t.same((await call(client, 'wamp.reflection.topic.describe', ['com.app.ticks']))[3], [{
    uri: 'com.app.ticks',
    handled: false,
    described: true,
    description: 'A tick per second.',
    kwargs: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } }
  }])
  t.match(await call(client, 'wamp.reflection.topic.describe', ['com.app.nope']), [MSG.ERROR, MSG.CALL, Number, {}, 'fastify_wamp.error.no_such_topic'])
  await client.close()
})

t.test('errors: the ones the procedures declare, and which procedures declare them', async (t) => {
  const { url } = await startApp(t, { reflection: true }, (app) => {
    catalogApp(app)
    app.wamp.register('com.app.sub', { errors: { 'com.app.error.overflow': 'Also here.' } }, () => 0)
  })
  const { client } = await connectRaw(url)
  t.same((await call(client, 'wamp.reflection.error.list'))[3], [['com.app.error.bad', 'com.app.error.overflow']])
  t.same((await call(client, 'wamp.reflection.error.describe', ['com.app.error.overflow']))[3], [{
    uri: 'com.app.error.overflow', description: 'The sum is not a safe number.', procedures: ['com.app.add', 'com.app.sub']
  }])
  t.match(await call(client, 'wamp.reflection.error.describe', ['wamp.error.nope']), [MSG.ERROR, MSG.CALL, Number, {}, 'fastify_wamp.error.no_such_error'])
  await client.close()
})

interface User { name: string, role: string }
const USERS: Record<string, User> = { 'token-ann': { name: 'ann', role: 'admin' }, 'token-bob': { name: 'bob', role: 'user' } }

function withUsers (app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const user = USERS[String(request.headers.authorization)]
    if (user !== undefined) (request as FastifyRequest & { user?: User }).user = user
  })
}
const fromRequest = (request: FastifyRequest): { authid: string, authrole: string } | undefined => {
  const user = (request as FastifyRequest & { user?: User }).user
  return user === undefined ? undefined : { authid: user.name, authrole: user.role }
}

t.test('a role sees only what its permissions let it call, subscribe or publish to (autobahn-js)', async (t) => {
  const { url } = await startApp(t, {
    reflection: true,
    auth: { fromRequest },
    permissions: {
      admin: [{ uri: '', match: 'prefix', allow: ['call', 'subscribe', 'publish'] }],
      user: [
        { uri: 'wamp.reflection.', match: 'prefix', allow: ['call'] },
        { uri: 'com.app.add', allow: ['call'] },
        // Some of the admin procedures, not all: the prefix procedure is not visible.
        { uri: 'com.app.admin.status', allow: ['call'] },
        { uri: 'com.app.ticks', allow: ['subscribe'] }
      ]
    }
  }, (app) => { withUsers(app); catalogApp(app) })

  const bob = await connectAutobahn(url, { headers: { authorization: 'token-bob' } })
  t.equal(bob.welcome.authrole, 'user')
  const bobs = await bob.session.call<string[]>('wamp.reflection.procedure.list')
  t.same(bobs.filter((u) => !u.startsWith('wamp.')), ['com.app.add'])
  t.ok(bobs.includes('wamp.reflection.procedure.list'), 'what bob may call, the reflection procedures included')
  t.notOk(bobs.includes('wamp.session.count'))
  t.same(await bob.session.call('wamp.reflection.topic.list'), ['com.app.ticks'])
  t.same(await bob.session.call('wamp.reflection.error.list'), ['com.app.error.bad', 'com.app.error.overflow'])
  const hidden = await bob.session.call('wamp.reflection.procedure.describe', ['com.app.echo']).then(() => undefined, (e: { error: string }) => e.error)
  t.equal(hidden, 'wamp.error.no_such_procedure', 'what a role may not call is answered like what does not exist')
  const pattern = await bob.session.call('wamp.reflection.procedure.describe', ['com.app.admin.', { match: 'prefix' }]).then(() => undefined, (e: { error: string }) => e.error)
  t.equal(pattern, 'wamp.error.no_such_procedure', 'a pattern is visible only if every URI it covers may be called')
  const chat = await bob.session.call('wamp.reflection.topic.describe', ['com.app.chat']).then(() => undefined, (e: { error: string }) => e.error)
  t.equal(chat, 'fastify_wamp.error.no_such_topic')

  const ann = await connectAutobahn(url, { headers: { authorization: 'token-ann' } })
  const all = await ann.session.call<string[]>('wamp.reflection.procedure.list')
  t.same(all.filter((u) => !u.startsWith('wamp.')), ['com.app.add', 'com.app.admin.', 'com.app.echo'])
  t.same(await ann.session.call('wamp.reflection.topic.list'), ['com.app.chat', 'com.app.ticks'])
  const described = await ann.session.call<{ description: string }>('wamp.reflection.procedure.describe', ['com.app.admin.', { match: 'prefix' }])
  t.equal(described.description, 'Admin tools.')
  await Promise.all([bob.close(), ann.close()])
})

t.test('an authorize hook decides too, async, and a throwing hook hides the entry', async (t) => {
  const asked: string[] = []
  const { app } = await startApp(t, {
    reflection: true,
    authorize: async (session: WampSession, action, uri, options) => {
      if (uri.startsWith('wamp.reflection.')) return true
      asked.push(`${action} ${uri}${options.match === undefined ? '' : ` ${String(options.match)}`}`)
      if (uri === 'com.app.echo') throw new Error('boom')
      return uri !== 'com.app.add'
    }
  }, catalogApp)
  const client = await connect(app)
  const { args: [list] } = await client.call('wamp.reflection.procedure.list') as unknown as { args: [string[]] }
  t.same(list.filter((u) => !u.startsWith('wamp.')), ['com.app.admin.'])
  t.ok(asked.includes('call com.app.admin. prefix'), 'the hook is asked about a pattern with options.match, as for SUBSCRIBE')
  t.ok(asked.includes('call com.app.add'))
  asked.length = 0
  t.same((await client.call('wamp.reflection.topic.list')).args, [['com.app.chat', 'com.app.ticks']])
  t.same(asked, ['subscribe com.app.chat', 'subscribe com.app.ticks'], 'subscribe allowed: publish is not asked')
  await client.close()
})

t.test('router mode: client registrations are listed, described when the app described them, gone when the client leaves', async (t) => {
  const { app, url } = await startApp(t, { reflection: true, realms: [{ name: 'realm1', router: true }] }, (app) => {
    app.wamp.describeProcedure('com.peer.mul', { description: 'Multiplies.', args: Type.Tuple([Type.Number(), Type.Number()]) })
  })
  const callee = await connectAutobahn(url)
  await callee.session.register('com.peer.mul', (args?: unknown[]) => (args as number[])[0] * (args as number[])[1])
  await callee.session.register('com.peer.any.', () => 1, { match: 'prefix', invoke: 'roundrobin' })
  const caller = await connectAutobahn(url)
  const list = await caller.session.call<string[]>('wamp.reflection.procedure.list')
  t.same(list.filter((u) => !u.startsWith('wamp.')), ['com.peer.any.', 'com.peer.mul'])
  t.same(await caller.session.call('wamp.reflection.procedure.describe', ['com.peer.mul']), {
    uri: 'com.peer.mul',
    match: 'exact',
    provider: 'client',
    invoke: 'single',
    description: 'Multiplies.',
    args: { type: 'array', additionalItems: false, items: [{ type: 'number' }, { type: 'number' }], minItems: 2 }
  })
  t.same(await caller.session.call('wamp.reflection.procedure.describe', ['com.peer.any.']), {
    uri: 'com.peer.any.', match: 'prefix', provider: 'client', invoke: 'roundrobin'
  }, 'the only procedure of that URI, whatever its match policy')
  await callee.close()
  await until(() => app.wamp.stats().registrations === 0, 2000, 'the registrations to go')
  const after = await caller.session.call<string[]>('wamp.reflection.procedure.list')
  t.same(after.filter((u) => !u.startsWith('wamp.')), [])
  await caller.close()
})

t.test('the realm option wins over the plugin option; the option is validated', async (t) => {
  const { url } = await startApp(t, { reflection: true, realms: [{ name: 'quiet', reflection: false }, 'loud'] })
  const quiet = await connectRaw(url, { realm: 'quiet' })
  const loud = await connectRaw(url, { realm: 'loud' })
  t.notOk(rolesOf(quiet.welcome).dealer.features.reflection)
  t.equal(rolesOf(loud.welcome).dealer.features.reflection, true)
  t.match(await call(quiet.client, 'wamp.reflection.topic.list'), [MSG.ERROR, MSG.CALL, Number, {}, 'wamp.error.no_such_procedure'])
  t.match(await call(loud.client, 'wamp.reflection.topic.list'), [MSG.RESULT, Number, {}, [[]]])
  await Promise.all([quiet.client.close(), loud.client.close()])

  for (const options of [{ reflection: 'yes' }, { realms: [{ name: 'r', reflection: 1 }] }]) {
    const app = Fastify({ logger: false })
    await t.rejects(async () => { await app.register(fastifyWamp, options as never).ready() }, { code: 'FST_WAMP_INVALID_OPTION' })
    await app.close()
  }
  const app = Fastify({ logger: false })
  await app.register(fastifyWamp)
  t.throws(() => app.wamp.describeTopic('bad uri', {}), { code: 'FST_WAMP_INVALID_URI' })
  t.throws(() => app.wamp.describeTopic('com.ok', { description: 5 } as never), { code: 'FST_WAMP_INVALID_OPTION' })
  await app.close()
})
