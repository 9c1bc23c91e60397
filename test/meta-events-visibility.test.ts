import t from 'tap'
import type { Test } from 'tap'
import { Writable } from 'node:stream'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import type { AuthorizeHook, FastifyWampOptions } from '../index.js'
import { hubOf, joinAs, roleFromHeader, startApp, until } from './helpers/app.js'
import { connectRaw, messagesBeforeMarker, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { connectAutobahn } from './helpers/clients.js'
import { MAX_PENDING_META_EVENTS } from '../lib/realm/meta-events.js'
import type { Realm } from '../lib/realm/realm.js'

// Meta events under authorization (docs/meta-api.md, "What a caller sees"): an event about a registration reaches a
// subscriber only if it may call every URI the registration covers, one about a subscription only if it may
// subscribe to its topic with its match — the rule of the meta procedures — whatever subscription (exact or a
// pattern covering the meta topics) carries it, in the order the events happened, also while an async hook decides.

const REG = ['wamp.registration.on_create', 'wamp.registration.on_register', 'wamp.registration.on_unregister', 'wamp.registration.on_delete']
const SUB = ['wamp.subscription.on_create', 'wamp.subscription.on_subscribe', 'wamp.subscription.on_unsubscribe', 'wamp.subscription.on_delete']

function internalRealm (app: Parameters<typeof hubOf>[0]): Realm {
  return hubOf(app).realm('realm1') as unknown as Realm
}

let request = 1000
/** SUBSCRIBE or REGISTER (or UNSUBSCRIBE, UNREGISTER of `target`), answered as asked; returns the id. */
async function ask (client: RawClient, type: number, target: string | number, options: object = {}): Promise<number> {
  const id = ++request
  client.send(typeof target === 'number' ? [type, id, target] : [type, id, options, target])
  const answer = await client.next()
  if (answer[0] !== type + 1 || answer[1] !== id) throw new Error(`refused: ${JSON.stringify(answer)}`)
  return (answer[2] ?? 0) as number
}

/** A subscriber of `topics` (exact) whose EVENTs read back as [topic, ...args]. */
async function watch (client: RawClient, topics: string[]): Promise<(event: unknown[]) => unknown[]> {
  const byId = new Map<number, string>()
  for (const topic of topics) byId.set(await ask(client, MSG.SUBSCRIBE, topic), topic)
  return (event) => {
    if (event[0] !== MSG.EVENT) throw new Error(`not an EVENT: ${JSON.stringify(event)}`)
    const details = event[3] as { topic?: string }
    return [details.topic ?? byId.get(event[1] as number), ...(event[4] as unknown[])]
  }
}

/** A meta event (as `watch` reads it) in short: [topic, the entry's URI or id] — on_join: [topic, the session id]. */
function brief (event: unknown[]): unknown[] {
  if (event[0] === 'wamp.session.on_join') return [event[0], (event[1] as { session: number }).session]
  const about = event[2]
  return [event[0], typeof about === 'object' && about !== null ? (about as { uri: string }).uri : about]
}

/** Registers and unregisters, visible and hidden; returns the events a subscriber that may call `app.public.*` should get. */
async function registrations (admin: RawClient): Promise<unknown[][]> {
  const x = await ask(admin, MSG.REGISTER, 'app.public.x')
  await ask(admin, MSG.REGISTER, 'app.secret.y')
  const covering = await ask(admin, MSG.REGISTER, 'app.', { match: 'prefix' })
  const publicPattern = await ask(admin, MSG.REGISTER, 'app.public..z', { match: 'wildcard' })
  for (const id of [covering, x, publicPattern]) await ask(admin, MSG.UNREGISTER, id)
  return [
    [REG[0], 'app.public.x'], [REG[1], x],
    [REG[0], 'app.public..z'], [REG[1], publicPattern],
    [REG[2], x], [REG[3], x],
    [REG[2], publicPattern], [REG[3], publicPattern]
  ]
}

/** The same for subscriptions, for a subscriber that may subscribe to `app.public.*`. */
async function subscriptions (admin: RawClient): Promise<unknown[][]> {
  const x = await ask(admin, MSG.SUBSCRIBE, 'app.public.x')
  await ask(admin, MSG.SUBSCRIBE, 'app.secret.y')
  const covering = await ask(admin, MSG.SUBSCRIBE, 'app.', { match: 'prefix' })
  const publicPattern = await ask(admin, MSG.SUBSCRIBE, 'app.public.', { match: 'prefix' })
  for (const id of [covering, x, publicPattern]) await ask(admin, MSG.UNSUBSCRIBE, id)
  return [
    [SUB[0], 'app.public.x'], [SUB[1], x],
    [SUB[0], 'app.public.'], [SUB[1], publicPattern],
    [SUB[2], x], [SUB[3], x],
    [SUB[2], publicPattern], [SUB[3], publicPattern]
  ]
}

async function scenario (t: Test, options: FastifyWampOptions): Promise<void> {
  const { app, url } = await startApp(t, { metaApi: true, onSessionOpen: roleFromHeader, realms: [{ name: 'realm1', router: true }], ...options })
  const admin = await joinAs(url, 'admin')
  const watcher = await joinAs(url, 'watcher')
  // Like autobahn-python's meta listener: one prefix subscription to everything (allowed to its role).
  const everything = await joinAs(url, 'lister')
  t.teardown(() => Promise.all([admin.close(), watcher.close(), everything.close()]))
  const read = await watch(watcher, [...REG, ...SUB])
  everything.send([MSG.SUBSCRIBE, 1, { match: 'prefix' }, ''])
  t.equal((await everything.next())[0], MSG.SUBSCRIBED)
  const readAll = await watch(everything, [])

  const visibleRegistrations = await registrations(admin)
  const visibleSubscriptions = await subscriptions(admin)
  const marker = (): void => { app.wamp.publishToAll('wamp.registration.on_create', ['marker']) }
  t.same((await messagesBeforeMarker(watcher, marker)).map(read).map(brief), [...visibleRegistrations, ...visibleSubscriptions],
    'exact subscribers: only the registrations it may call and the subscriptions it may subscribe to, in order')
  // Allowed to subscribe to everything, the lister sees every subscription (its own "" first), but not every registration.
  const all = (await messagesBeforeMarker(everything, marker)).map(readAll).map(brief)
  t.same(all.filter((e) => REG.includes(e[0] as string)), visibleRegistrations, 'a prefix "" subscriber: the registrations it may call')
  t.same(all.filter((e) => e[0] === SUB[0]).map((e) => e[1]), ['', 'app.public.x', 'app.secret.y', 'app.', 'app.public.'], 'and every subscription')
}

t.test('with permissions: meta events reach only subscribers that may see the registration or subscription they name', async (t) => {
  await scenario(t, {
    permissions: {
      admin: [{ uri: '', match: 'prefix', allow: ['call', 'register', 'subscribe', 'publish'] }],
      watcher: [{ uri: 'wamp.', match: 'prefix', allow: ['subscribe'] }, { uri: 'app.public.', match: 'prefix', allow: ['call', 'subscribe'] }],
      lister: [{ uri: '', match: 'prefix', allow: ['subscribe'] }, { uri: 'app.public.', match: 'prefix', allow: ['call', 'subscribe'] }]
    }
  })
})

t.test('with a synchronous authorize hook: the same', async (t) => {
  await scenario(t, {
    authorize: (session, action, uri) => session.authrole === 'admin' ||
      (action === 'subscribe' && (uri.startsWith('wamp.') || session.authrole === 'lister')) ||
      ((action === 'call' || action === 'subscribe') && uri.startsWith('app.public.'))
  })
})

/** An async hook whose answers about app.* URIs for the watcher wait until the test gives them. */
function controlledHook (): { hook: AuthorizeHook, asked: Array<{ uri: string, answer: (allowed: boolean) => void }> } {
  const asked: Array<{ uri: string, answer: (allowed: boolean) => void }> = []
  const hook: AuthorizeHook = async (session, _action, uri) => {
    if (session.authrole !== 'watcher' || !uri.startsWith('app.')) return true
    return await new Promise<boolean>((resolve) => { asked.push({ uri, answer: resolve }) })
  }
  return { hook, asked }
}

t.test('with an async hook answering in reverse order: each subscriber still gets its meta events in the order they happened', async (t) => {
  const { hook, asked } = controlledHook()
  const { app, url } = await startApp(t, { metaApi: true, onSessionOpen: roleFromHeader, authorize: hook })
  const admin = await joinAs(url, 'admin')
  const watcher = await joinAs(url, 'watcher')
  t.teardown(() => Promise.all([admin.close(), watcher.close()]))
  const read = await watch(watcher, [REG[0], REG[1], 'wamp.session.on_join'])

  const a = await ask(admin, MSG.REGISTER, 'app.public.a')
  await ask(admin, MSG.REGISTER, 'app.secret.b')
  const newcomer = await connectRaw(url)
  t.teardown(() => newcomer.client.close())
  const c = await ask(admin, MSG.REGISTER, 'app.public.c')
  t.same(asked.map((q) => q.uri), ['app.public.a', 'app.public.a', 'app.secret.b', 'app.secret.b', 'app.public.c', 'app.public.c'],
    'the hook is asked once per event and subscriber')
  for (const q of [...asked].reverse()) q.answer(q.uri.startsWith('app.public.'))

  const got: unknown[][] = []
  for (let i = 0; i < 5; i++) got.push(read(await watcher.next()))
  t.same(got.map(brief), [[REG[0], 'app.public.a'], [REG[1], a], ['wamp.session.on_join', newcomer.sessionId], [REG[0], 'app.public.c'], [REG[1], c]],
    'in order, the session event too (it waited behind the undecided ones), the hidden ones left out')
  t.same(await messagesBeforeMarker(watcher, () => app.wamp.publishToAll(REG[0], ['marker'])), [], 'nothing else')
})

t.test('a hook that throws or rejects hides the event', async (t) => {
  const { url } = await startApp(t, {
    metaApi: true,
    onSessionOpen: roleFromHeader,
    authorize: (session, _action, uri) => {
      if (session.authrole !== 'watcher' || !uri.startsWith('app.')) return true
      if (uri === 'app.throws') throw new Error('hook bug')
      if (uri === 'app.rejects') return Promise.reject(new Error('hook bug'))
      return Promise.resolve(true)
    }
  })
  const admin = await joinAs(url, 'admin')
  const watcher = await joinAs(url, 'watcher')
  t.teardown(() => Promise.all([admin.close(), watcher.close()]))
  const read = await watch(watcher, [REG[0]])
  await ask(admin, MSG.REGISTER, 'app.throws')
  await ask(admin, MSG.REGISTER, 'app.rejects')
  await ask(admin, MSG.REGISTER, 'app.shown')
  t.same(brief(read(await watcher.next())), [REG[0], 'app.shown'], 'the first event the watcher gets is the visible one')
})

t.test('an event still undecided when its subscriber unsubscribes is never sent, not even after it subscribes again', async (t) => {
  const { hook, asked } = controlledHook()
  const { app, url } = await startApp(t, { metaApi: true, onSessionOpen: roleFromHeader, authorize: hook })
  const admin = await joinAs(url, 'admin')
  const watcher = await joinAs(url, 'watcher')
  t.teardown(() => Promise.all([admin.close(), watcher.close()]))
  const keeper = await joinAs(url, 'admin')
  t.teardown(() => keeper.close())
  await ask(keeper, MSG.SUBSCRIBE, REG[0]) // keeps the subscription (and its id) alive across the watcher's UNSUBSCRIBE
  const subscription = await ask(watcher, MSG.SUBSCRIBE, REG[0])
  await ask(admin, MSG.REGISTER, 'app.public.early')
  await ask(watcher, MSG.UNSUBSCRIBE, subscription)
  t.equal(await ask(watcher, MSG.SUBSCRIBE, REG[0]), subscription, 'subscribed again, to the same subscription')
  await ask(admin, MSG.REGISTER, 'app.public.late')
  t.same(asked.map((q) => q.uri), ['app.public.early', 'app.public.late'])
  for (const q of asked) q.answer(true)
  const read = await watch(watcher, [])
  t.same(brief(read(await watcher.next())), [undefined, 'app.public.late'], 'the first EVENT is about the registration made after the new SUBSCRIBE')
  t.same(await messagesBeforeMarker(watcher, () => app.wamp.publishToAll(REG[0], ['marker'])), [])
})

t.test('a subscriber that leaves while the hook decides: nothing is kept for it, even if the hook never answers', async (t) => {
  const { hook, asked } = controlledHook()
  const { app, url } = await startApp(t, { metaApi: true, onSessionOpen: roleFromHeader, authorize: hook })
  const admin = await joinAs(url, 'admin')
  const watcher = await joinAs(url, 'watcher')
  t.teardown(() => admin.close())
  await watch(watcher, REG)
  await ask(admin, MSG.REGISTER, 'app.public.a')
  t.equal(asked.length, 2)
  const metaEvents = internalRealm(app).metaEvents as unknown as { backlogs: Map<unknown, unknown> }
  t.equal(metaEvents.backlogs.size, 1, 'the watcher\'s events wait for the hook')
  await watcher.close()
  await until(() => app.wamp.sessions.size === 1, 5000, 'the watcher to be gone')
  t.equal(metaEvents.backlogs.size, 0, 'its backlog went with it')
  asked[0].answer(true) // a late answer finds nothing to send, and nothing fails
  await ask(admin, MSG.REGISTER, 'app.public.b')
  t.equal(asked.length, 2, 'nobody is left to ask about')
})

t.test(`a subscriber's backlog holds at most ${MAX_PENDING_META_EVENTS} events: newer ones are not sent to it (logged once), the rest arrive in order`, async (t) => {
  const { hook, asked } = controlledHook()
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done() } })
  const { app, url } = await startApp(t, { metaApi: true, onSessionOpen: roleFromHeader, authorize: hook }, undefined, { logger: { level: 'warn', stream } })
  const admin = await joinAs(url, 'admin')
  const watcher = await joinAs(url, 'watcher')
  t.teardown(() => Promise.all([admin.close(), watcher.close()]))
  watcher.send([MSG.SUBSCRIBE, 1, { match: 'prefix' }, 'wamp.registration.'])
  t.equal((await watcher.next())[0], MSG.SUBSCRIBED)
  // Each REGISTER + UNREGISTER makes 4 events: on_create, on_register, on_unregister, on_delete.
  const cycles = MAX_PENDING_META_EVENTS / 4 + 1
  for (let i = 0; i < cycles; i++) {
    const id = await ask(admin, MSG.REGISTER, 'app.public.p')
    await ask(admin, MSG.UNREGISTER, id)
  }
  t.equal(asked.length, MAX_PENDING_META_EVENTS, 'the hook is not even asked about the events past the bound')
  t.equal(lines.filter((line) => line.includes('meta events not sent')).length, 1, 'logged once')
  for (const q of asked) q.answer(true)
  const topics: unknown[] = []
  for (let i = 0; i < MAX_PENDING_META_EVENTS; i++) topics.push(((await watcher.next())[3] as { topic: string }).topic)
  t.same(topics, Array.from({ length: MAX_PENDING_META_EVENTS }, (_, i) => REG[i % 4]), 'the events held, in order')
  t.same(await messagesBeforeMarker(watcher, () => app.wamp.publishToAll(REG[0], ['marker'])), [], 'not the ones past the bound')
  await ask(admin, MSG.REGISTER, 'app.public.after')
  asked[MAX_PENDING_META_EVENTS].answer(true)
  t.match(await watcher.next(), [MSG.EVENT, Number, Number, { topic: REG[0] }, [Number, { uri: 'app.public.after' }]], 'once drained, events flow again')
})

t.test('autobahn-js with a prefix "" subscription gets the meta events of what it may call, and nothing else', async (t) => {
  const { url } = await startApp(t, {
    metaApi: true,
    onSessionOpen: roleFromHeader,
    realms: [{ name: 'realm1', router: true }],
    authorize: async (session, action, uri) => session.authrole === 'admin' || (action === 'subscribe' && uri === '') ||
      (action === 'call' && uri.startsWith('app.public.'))
  })
  const admin = await joinAs(url, 'admin')
  const ab = await connectAutobahn(url, { headers: { 'x-authrole': 'watcher' } })
  t.teardown(() => Promise.all([admin.close(), ab.close()]))
  const got: unknown[][] = []
  let registered: () => void = () => {}
  const done = new Promise<void>((resolve) => { registered = resolve })
  await ab.session.subscribe('', (args: unknown[], _kwargs: unknown, details: { topic?: string }) => {
    got.push(brief([details.topic, ...args]))
    if (details.topic === REG[1]) registered()
  }, { match: 'prefix' })
  await ask(admin, MSG.REGISTER, 'app.secret.y')
  await ask(admin, MSG.REGISTER, 'app.', { match: 'prefix' })
  const x = await ask(admin, MSG.REGISTER, 'app.public.x')
  await done
  t.same(got.filter((e) => REG.includes(e[0] as string)), [[REG[0], 'app.public.x'], [REG[1], x]],
    'the first on_register it gets is the visible one, after its on_create')
  t.same(ab.errors, [])
})

type Step = { op: 'register', sync: boolean, visible: boolean } | { op: 'answer', pick: number }

t.test('property: whatever mix of sync and async answers, in whatever order, a subscriber gets exactly the visible events in order', async (t) => {
  const asked: Array<{ uri: string, answer: (allowed: boolean) => void }> = []
  const { url } = await startApp(t, {
    metaApi: true,
    onSessionOpen: roleFromHeader,
    authorize: (session, _action, uri) => {
      if (session.authrole !== 'watcher' || !uri.startsWith('app.')) return true
      if (uri.includes('.sync.')) return uri.endsWith('.yes')
      return new Promise<boolean>((resolve) => { asked.push({ uri, answer: resolve }) })
    }
  })
  const admin = await joinAs(url, 'admin')
  const watcher = await joinAs(url, 'watcher')
  t.teardown(() => Promise.all([admin.close(), watcher.close()]))
  const read = await watch(watcher, [REG[0]])
  const answer = (q: { uri: string, answer: (allowed: boolean) => void }): void => { q.answer(q.uri.endsWith('.yes')) }
  const stepArb: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ op: fc.constant('register' as const), sync: fc.boolean(), visible: fc.boolean() }),
    fc.record({ op: fc.constant('answer' as const), pick: fc.nat() })
  )
  let run = 0
  await fc.assert(fc.asyncProperty(fc.array(stepArb, { maxLength: 12 }), async (steps) => {
    run++
    const expected: string[] = []
    const ids: number[] = []
    for (const step of steps) {
      if (step.op === 'answer') {
        if (asked.length > 0) answer(asked.splice(step.pick % asked.length, 1)[0])
        continue
      }
      const uri = `app.${run}.${ids.length}.${step.sync ? 'sync' : 'async'}.${step.visible ? 'yes' : 'no'}`
      ids.push(await ask(admin, MSG.REGISTER, uri))
      if (step.visible) expected.push(uri)
    }
    const end = `app.${run}.end.async.yes`
    ids.push(await ask(admin, MSG.REGISTER, end))
    for (const q of asked.splice(0).reverse()) answer(q)
    const got: unknown[] = []
    for (;;) {
      const msg = await watcher.next()
      const uri = brief(read(msg))[1]
      if (uri === end) break
      got.push(uri)
    }
    for (const id of ids) await ask(admin, MSG.UNREGISTER, id)
    return isDeepStrictEqual(got, expected)
  }), { numRuns: 40 })
  t.pass('40 runs')
})
