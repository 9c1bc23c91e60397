import t from 'tap'
import type { Test } from 'tap'
import type { FastifyWampOptions } from '../index.js'
import { joinAs, roleFromHeader, startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

// The Meta API under authorization (README "Meta API", docs/meta-api.md): a caller sees a registration only if it may
// call all its pattern covers and a subscription only if it may subscribe to all its pattern covers — the rule of
// reflection — and what it may not see is answered exactly like what does not exist.

let request = 1000
/** The CALL's answer without its request id: [type, …rest]. */
async function call (client: RawClient, uri: string, args: unknown[] = []): Promise<unknown[]> {
  const id = ++request
  client.send([MSG.CALL, id, {}, uri, args])
  const answer = await client.next()
  const at = answer[0] === MSG.ERROR ? 2 : 1
  if (answer[at] !== id) throw new Error(`answer to another request: ${JSON.stringify(answer)}`)
  return answer.filter((_, i) => i !== at)
}

async function ask (client: RawClient, type: number, options: object, uri: string): Promise<number> {
  client.send([type, ++request, options, uri])
  const answer = await client.next()
  if (answer[0] !== (type === MSG.REGISTER ? MSG.REGISTERED : MSG.SUBSCRIBED)) throw new Error(`refused: ${JSON.stringify(answer)}`)
  return answer[2] as number
}

const UNKNOWN = 987654321
/** What an id answers when it names nothing, with the hidden id in its place: the two must be the same. */
function asUnknown (answer: unknown[], hidden: number): unknown {
  return JSON.parse(JSON.stringify(answer).replaceAll(String(UNKNOWN), String(hidden))) as unknown
}

async function scenario (t: Test, options: FastifyWampOptions): Promise<void> {
  const { url } = await startApp(t, { metaApi: true, onSessionOpen: roleFromHeader, realms: [{ name: 'realm1', router: true }], ...options })
  const admin = await joinAs(url, 'admin')
  const user = await joinAs(url, 'user')
  t.teardown(() => Promise.all([admin.close(), user.close()]))
  const secretProc = await ask(admin, MSG.REGISTER, {}, 'com.secret.proc')
  const publicProc = await ask(admin, MSG.REGISTER, {}, 'com.public.proc')
  const secretPattern = await ask(admin, MSG.REGISTER, { match: 'prefix' }, 'com.')
  const secretTopic = await ask(admin, MSG.SUBSCRIBE, {}, 'com.secret.topic')
  const publicTopic = await ask(admin, MSG.SUBSCRIBE, {}, 'com.public.topic')
  const broadTopic = await ask(admin, MSG.SUBSCRIBE, { match: 'prefix' }, 'com.')
  const publicPattern = await ask(admin, MSG.SUBSCRIBE, { match: 'prefix' }, 'com.public.')

  t.same(await call(admin, 'wamp.registration.list'), [MSG.RESULT, {}, [{ exact: [secretProc, publicProc], prefix: [secretPattern], wildcard: [] }]], 'the admin sees every registration')
  t.same(await call(user, 'wamp.registration.list'), [MSG.RESULT, {}, [{ exact: [publicProc], prefix: [], wildcard: [] }]],
    'the user sees what it may call: not com.secret.proc, not the prefix com. (it may not call all of it)')
  t.same(await call(user, 'wamp.registration.lookup', ['com.secret.proc']), [MSG.RESULT, {}, [null]])
  t.same(await call(user, 'wamp.registration.lookup', ['com.', { match: 'prefix' }]), [MSG.RESULT, {}, [null]])
  t.same(await call(user, 'wamp.registration.lookup', ['com.public.proc']), [MSG.RESULT, {}, [publicProc]])
  t.same(await call(user, 'wamp.registration.match', ['com.secret.proc']), [MSG.RESULT, {}, [null]])
  t.same(await call(user, 'wamp.registration.match', ['com.other']), [MSG.RESULT, {}, [null]], 'not the prefix registration a CALL would reach')
  t.same(await call(user, 'wamp.registration.match', ['com.public.proc']), [MSG.RESULT, {}, [publicProc]])
  t.same(await call(admin, 'wamp.registration.match', ['com.other']), [MSG.RESULT, {}, [secretPattern]])
  for (const uri of ['wamp.registration.get', 'wamp.registration.list_callees', 'wamp.registration.count_callees', 'wamp.registration.remove']) {
    for (const hidden of [secretProc, secretPattern]) {
      t.same(await call(user, uri, [hidden]), asUnknown(await call(user, uri, [UNKNOWN]), hidden), `${uri}: a hidden id is answered as an unknown one`)
    }
    t.equal((await call(user, uri, [publicProc]))[0], MSG.RESULT, `${uri}: a visible one answers`)
  }

  t.same(await call(user, 'wamp.subscription.list'), [MSG.RESULT, {}, [{ exact: [publicTopic], prefix: [publicPattern], wildcard: [] }]],
    'the user sees what it may subscribe to: not com.secret.topic, not the prefix com.')
  t.same(await call(admin, 'wamp.subscription.list'), [MSG.RESULT, {}, [{ exact: [secretTopic, publicTopic], prefix: [broadTopic, publicPattern], wildcard: [] }]])
  t.same(await call(user, 'wamp.subscription.lookup', ['com.secret.topic']), [MSG.RESULT, {}, [null]])
  t.same(await call(user, 'wamp.subscription.lookup', ['com.', { match: 'prefix' }]), [MSG.RESULT, {}, [null]])
  t.same(await call(user, 'wamp.subscription.lookup', ['com.public.', { match: 'prefix' }]), [MSG.RESULT, {}, [publicPattern]])
  t.same(await call(user, 'wamp.subscription.match', ['com.secret.topic']), [MSG.RESULT, {}, [null]])
  t.same(await call(user, 'wamp.subscription.match', ['com.public.topic']), [MSG.RESULT, {}, [[publicTopic, publicPattern]]], 'only the visible ones of those a publication reaches')
  t.same(await call(admin, 'wamp.subscription.match', ['com.public.topic']), [MSG.RESULT, {}, [[publicTopic, broadTopic, publicPattern]]])
  for (const uri of ['wamp.subscription.get', 'wamp.subscription.list_subscribers', 'wamp.subscription.count_subscribers', 'wamp.subscription.remove']) {
    for (const hidden of [secretTopic, broadTopic]) {
      t.same(await call(user, uri, [hidden]), asUnknown(await call(user, uri, [UNKNOWN]), hidden), `${uri}: a hidden id is answered as an unknown one`)
    }
    t.equal((await call(user, uri, [publicTopic]))[0], MSG.RESULT, `${uri}: a visible one answers`)
  }
  t.equal(await call(admin, 'wamp.subscription.count_subscribers', [secretTopic]).then((a) => (a[2] as number[])[0]), 1, 'nothing hidden was removed')
}

const everything = ['call', 'register', 'subscribe', 'publish'] as const

t.test('with an authorize hook: meta procedures answer only about what the caller may call or subscribe to', async (t) => {
  await scenario(t, {
    // The hook is asked with options.match for a pattern, as reflection asks it.
    authorize: (session, action, uri, options) => session.authrole === 'admin' || uri.startsWith('wamp.') ||
      (uri.startsWith('com.public.') && (action === 'call' || action === 'subscribe')) ||
      (uri === 'com.' && options.match === 'prefix' && action === 'register')
  })
})

t.test('with permissions: a pattern is visible only when every URI it covers is allowed', async (t) => {
  await scenario(t, {
    permissions: {
      admin: [{ uri: '', match: 'prefix', allow: [...everything] }],
      user: [{ uri: 'wamp.', match: 'prefix', allow: ['call'] }, { uri: 'com.public.', match: 'prefix', allow: ['call', 'subscribe'] }]
    }
  })
})

t.test('revocation by id: a hidden registration or subscription of a session is answered as one it does not hold', async (t) => {
  const { url } = await startApp(t, { metaApi: true, onSessionOpen: roleFromHeader, authorize: (session, _action, uri) => session.authrole === 'admin' || !uri.startsWith('com.secret') })
  const { client: admin, sessionId: adminId } = await connectRaw(url, { headers: { 'x-authrole': 'admin' } })
  const user = await joinAs(url, 'user')
  t.teardown(() => Promise.all([admin.close(), user.close()]))
  const secretProc = await ask(admin, MSG.REGISTER, {}, 'com.secret.proc')
  const secretTopic = await ask(admin, MSG.SUBSCRIBE, {}, 'com.secret.topic')
  const notHeld = UNKNOWN
  t.same(await call(user, 'wamp.registration.remove_callee', [secretProc, adminId]), asUnknown(await call(user, 'wamp.registration.remove_callee', [notHeld, adminId]), secretProc))
  t.same(await call(user, 'wamp.subscription.remove_subscriber', [secretTopic, adminId]), asUnknown(await call(user, 'wamp.subscription.remove_subscriber', [notHeld, adminId]), secretTopic))
  t.same(await call(admin, 'wamp.registration.count_callees', [secretProc]), [MSG.RESULT, {}, [1]], 'still registered')
  t.same(await call(admin, 'wamp.subscription.count_subscribers', [secretTopic]), [MSG.RESULT, {}, [1]], 'still subscribed')
})

t.test('without authorization the meta procedures answer about everything, as before', async (t) => {
  const { url } = await startApp(t, { metaApi: true })
  const a = await joinAs(url, 'x')
  const b = await joinAs(url, 'y')
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const proc = await ask(a, MSG.REGISTER, {}, 'com.secret.proc')
  const topic = await ask(a, MSG.SUBSCRIBE, { match: 'prefix' }, 'com.')
  t.same(await call(b, 'wamp.registration.list'), [MSG.RESULT, {}, [{ exact: [proc], prefix: [], wildcard: [] }]])
  t.same(await call(b, 'wamp.subscription.match', ['com.secret.topic']), [MSG.RESULT, {}, [[topic]]])
  t.match(await call(b, 'wamp.registration.get', [proc]), [MSG.RESULT, {}, [{ id: proc, uri: 'com.secret.proc' }]])
})
