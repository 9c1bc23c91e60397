import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw } from './helpers/raw-client.js'

// A session keeps of HELLO.Details.roles only what the router decides by: the client roles, each with the features
// announced as true. A client could put up to maxPayload there, held for the whole session: 10,000 sessions × 1 MiB.

t.test('HELLO roles: only the client roles and their true features are kept, however much the client sent', async (t) => {
  const { url, app } = await startApp(t)
  const features: Record<string, unknown> = { call_canceling: true, progressive_call_results: true, shared_registration: 'yes', junk: 1 }
  for (let i = 0; i < 1000; i++) features[`feature_${i}`] = true
  const roles = {
    callee: { features, padding: 'x'.repeat(300_000) },
    caller: { features: { progressive_call_invocations: true, ['f'.repeat(5000)]: true } },
    subscriber: {},
    dealer: { features: { everything: true } },
    junk: { features: { x: true }, more: 'y'.repeat(300_000) }
  }
  const { client, sessionId } = await connectRaw(url, { details: { roles } })
  const session = app.wamp.sessions.get(sessionId)
  t.ok(session !== undefined, 'the session is open')
  const kept = session?.roles as Record<string, { features: Record<string, unknown> }>
  t.same(Object.keys(kept).sort(), ['callee', 'caller', 'subscriber'], 'only client roles')
  t.equal(kept.callee.features.call_canceling, true)
  t.equal(kept.callee.features.progressive_call_results, true)
  t.notOk('shared_registration' in kept.callee.features, 'a feature not announced as true is not kept')
  t.equal(Object.keys(kept.callee.features).length, 64, 'at most 64 features a role')
  t.same(kept.caller.features, { progressive_call_invocations: true }, 'names over 100 characters are not kept')
  t.same(kept.subscriber, { features: {} })
  t.ok(JSON.stringify(kept).length < 4096, `what is kept is small (${JSON.stringify(kept).length} characters)`)
  await client.close()
})
