import t from 'tap'
import { buildPresenceApp } from '../examples/presence.js'
import { connectAutobahn } from './helpers/clients.js'
import { connectRaw, MSG } from './helpers/raw-client.js'

// examples/presence.ts: testaments announce users going offline, the admin kicks and mutes.
t.test('examples/presence.ts: a testament says "offline" for a dropped client; the admin kills and mutes', async (t) => {
  const app = await buildPresenceApp({ logger: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const url = `ws://127.0.0.1:${port}/ws`

  const alice = await connectAutobahn(url, { realm: 'chat' })
  const presence: unknown[] = []
  let seen: () => void = () => {}
  const offline = new Promise<void>((resolve) => { seen = resolve })
  await alice.session.subscribe('com.chat.presence', (args: unknown[]) => { presence.push(args[0]); seen() })
  const room = await alice.session.subscribe('com.chat.room', () => {}) as unknown as { on_unsubscribe: Promise<unknown> }

  // Bob leaves a testament, then his network goes (no GOODBYE).
  const bob = await connectRaw(url, { realm: 'chat' })
  bob.client.send([MSG.CALL, 1, {}, 'wamp.session.add_testament', ['com.chat.presence', [{ user: 'bob', online: false }]]])
  t.same(await bob.client.next(), [MSG.RESULT, 1, {}])
  await bob.client.terminate()
  await offline
  t.same(presence, [{ user: 'bob', online: false }])

  const denied = await Promise.resolve(alice.session.call('wamp.session.kill_all')).then(() => undefined, (e: { error: string }) => e.error)
  t.equal(denied, 'wamp.error.not_authorized', 'users cannot kill sessions')

  const admin = await connectAutobahn(url, { realm: 'chat', authid: 'admin', authmethods: ['ticket'], onchallenge: () => 'change-me' })
  t.equal(await admin.session.call('com.chat.mute', [alice.session.id]), true)
  t.equal(await room.on_unsubscribe, 'com.chat.muted', 'alice\'s client learns why')
  const carol = await connectRaw(url, { realm: 'chat' })
  t.same(await admin.session.call('wamp.session.kill', [carol.sessionId], { message: 'spam' }), null)
  t.same(await carol.client.next(), [MSG.GOODBYE, { message: 'spam' }, 'wamp.close.killed'])
  t.same(alice.errors, [])
  await Promise.all([alice.close(), admin.close(), carol.client.close()])
})
