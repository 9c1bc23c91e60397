import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'

// Options of the wrong type are the client's mistake, never a default (spec: CALL.Options.timeout|integer,
// receive_progress|bool, progress|bool, disclose_me|bool; CANCEL.Options.mode|string == skip | kill | killnowait;
// YIELD.Options.progress|bool). A CALL answers ERROR invalid_argument; a CANCEL or a YIELD, which have no answer,
// end the session with protocol_violation. Absent is undefined or null (nil from msgpack and CBOR clients).

const PROTOCOLS = ['wamp.2.json', 'wamp.2.msgpack', 'wamp.2.cbor']

const BAD_CALL_OPTIONS: Array<Record<string, unknown>> = [
  { timeout: '100' }, { timeout: -1 }, { timeout: 1.5 }, { timeout: true }, { timeout: [100] },
  { receive_progress: 'true' }, { receive_progress: 1 }, { progress: 'yes' }, { progress: 0 }, { disclose_me: 'true' }
]

const BAD_CANCEL_MODES: unknown[] = ['bogus', 'Kill', 'skip ', '', 1, true, { mode: 'skip' }, ['kill']]

for (const protocol of PROTOCOLS) {
  t.test(`${protocol}: a CALL whose options have the wrong type → ERROR invalid_argument naming the option; the handler does not run`, async (t) => {
    let runs = 0
    const { url } = await startApp(t, {}, (app) => {
      app.wamp.register('echo', (args) => {
        runs++
        return args[0]
      })
    })
    const { client } = await connectRaw(url, { protocols: [protocol], details: STREAMING_HELLO_DETAILS })
    let id = 1
    for (const options of BAD_CALL_OPTIONS) {
      const name = Object.keys(options)[0]
      client.send([MSG.CALL, id, options, 'echo', ['x']])
      t.match(await client.next(), [MSG.ERROR, MSG.CALL, id, {}, 'wamp.error.invalid_argument', [new RegExp(`^CALL\\.Options\\.${name} must be `)]],
        JSON.stringify(options))
      id++
    }
    t.equal(runs, 0, 'no handler ran')
    // Absent options (nil from msgpack/CBOR clients) are not a mistake.
    client.send([MSG.CALL, id, { timeout: null, receive_progress: null, progress: null, disclose_me: null }, 'echo', ['ok']])
    t.match(await client.next(), [MSG.RESULT, id, {}, ['ok']])
    client.send([MSG.CALL, id + 1, { timeout: 0, receive_progress: false, progress: false, disclose_me: false }, 'echo', ['ok']])
    t.match(await client.next(), [MSG.RESULT, id + 1, {}, ['ok']])
    await client.close()
  })

  t.test(`${protocol}: a CANCEL with an unknown mode → ABORT protocol_violation, not a kill`, async (t) => {
    const signals: boolean[] = []
    const { url } = await startApp(t, {}, (app) => {
      app.wamp.register('wait', async (_args, _kwargs, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()))
        signals.push(true)
      })
    })
    for (const mode of BAD_CANCEL_MODES) {
      const { client } = await connectRaw(url, { protocols: [protocol], details: STREAMING_HELLO_DETAILS })
      client.send([MSG.CALL, 1, {}, 'wait'])
      client.send([MSG.CANCEL, 1, { mode }])
      t.match(await client.next(), [MSG.ABORT, { message: /^CANCEL\.Options\.mode must be "skip", "kill" or "killnowait"/ }, 'wamp.error.protocol_violation'],
        JSON.stringify(mode))
      await client.closed
    }
    // A nil mode is the default, kill.
    const { client } = await connectRaw(url, { protocols: [protocol], details: STREAMING_HELLO_DETAILS })
    client.send([MSG.CALL, 1, {}, 'wait'])
    client.send([MSG.CANCEL, 1, { mode: null }])
    t.match(await client.next(), [MSG.ERROR, MSG.CALL, 1, {}, 'wamp.error.canceled'])
    await client.close()
  })
}

t.test('a callee YIELD whose progress is not a boolean → ABORT protocol_violation; the app\'s call rejects, it does not resolve with a "final" result', async (t) => {
  const { app, url } = await startApp(t)
  for (const progress of ['yes', 1, 0, {}]) {
    const { client } = await connectRaw(url)
    client.send([MSG.REGISTER, 1, {}, 'com.p'])
    t.equal((await client.next())[0], MSG.REGISTERED)
    const outcome = app.wamp.call('com.p', [], {}, { onProgress: () => {} }).then(() => 'resolved', (err: { uri?: string }) => err.uri)
    const invocation = await client.next()
    client.send([MSG.YIELD, invocation[1], { progress }, ['chunk']])
    t.match(await client.next(), [MSG.ABORT, { message: 'YIELD.Options.progress must be a boolean' }, 'wamp.error.protocol_violation'], JSON.stringify(progress))
    t.equal(await outcome, 'wamp.error.canceled')
    await client.closed
  }
})

t.test('router mode: the caller gets one ERROR canceled when its callee YIELDs a malformed progress flag', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', router: true }] })
  const callee = (await connectRaw(url)).client
  const caller = (await connectRaw(url, { details: STREAMING_HELLO_DETAILS })).client
  callee.send([MSG.REGISTER, 1, {}, 'com.p'])
  t.equal((await callee.next())[0], MSG.REGISTERED)
  caller.send([MSG.CALL, 5, { receive_progress: true }, 'com.p'])
  const invocation = await callee.next()
  callee.send([MSG.YIELD, invocation[1], { progress: 'true' }, ['chunk']])
  t.match(await callee.next(), [MSG.ABORT, {}, 'wamp.error.protocol_violation'])
  t.match(await caller.next(), [MSG.ERROR, MSG.CALL, 5, {}, 'wamp.error.canceled'], 'the chunk never reached the caller as a RESULT')
  caller.send([MSG.CALL, 6, {}, 'com.p'])
  t.match(await caller.next(), [MSG.ERROR, MSG.CALL, 6, {}, 'wamp.error.no_such_procedure'], 'nothing else for request 5')
  await caller.close()
})

t.test('a further chunk of a streamed call with malformed options ends the session: its request id has no answer of its own', async (t) => {
  const { url } = await startApp(t, {}, (app) => {
    app.wamp.register('sum', async (_args, _kwargs, ctx) => {
      let total = 0
      for await (const chunk of ctx.input ?? []) total += chunk.args[0] as number
      return total
    }, { input: 'stream' })
  })
  const { client } = await connectRaw(url, { details: STREAMING_HELLO_DETAILS })
  client.send([MSG.CALL, 1, { progress: true }, 'sum', [1]])
  client.send([MSG.CALL, 1, { progress: 'yes' }, 'sum', [2]])
  t.match(await client.next(), [MSG.ABORT, { message: 'CALL.Options.progress must be a boolean' }, 'wamp.error.protocol_violation'])
  await client.closed
})
