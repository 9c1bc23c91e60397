import t from 'tap'
import type { Test } from 'tap'
import { startApp, until, sleep } from './helpers/app.js'
import { connectRaw, openRaw, MSG } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { pythonHas, runPythonHelper } from './helpers/python.js'

// Issue 23: WAMP-over-Batched-WebSocket (wamp.2.{json,msgpack,cbor}.batched), raw frames over a real WebSocket.

const SERIALIZERS = ['json', 'msgpack', 'cbor'] as const
const VIOLATION = 'wamp.error.protocol_violation'

/** Byte sizes of the frames a client receives (the raw client splits them into messages). */
function frameBytes (client: RawClient): number[] {
  const sizes: number[] = []
  client.ws.on('message', (data: Buffer) => { sizes.push(data.length) })
  return sizes
}

async function expectViolation (t: Test, client: RawClient, pattern: RegExp): Promise<void> {
  const abort = await client.nextOfType(MSG.ABORT)
  t.equal(abort[2], VIOLATION)
  t.match((abort[1] as { message: string }).message, pattern)
  t.equal((await client.expectClose()).code, 1002)
}

for (const name of SERIALIZERS) {
  const protocol = `wamp.2.${name}.batched`

  t.test(`issue 23: ${protocol}: several CALLs in one frame, their RESULTs in one frame`, async (t) => {
    const { url } = await startApp(t, {}, (app) => {
      app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number))
      app.wamp.register('later', async (args) => { await sleep(1); return args[0] })
    })
    const { client, welcome } = await connectRaw(url, { protocols: [protocol] })
    t.equal(client.protocol, protocol)
    t.same(client.frameSizes, [1], 'WELCOME is a batch of one')
    const { welcome: plain } = await connectRaw(url, { protocols: [`wamp.2.${name}`] })
    t.same(welcome[2], { ...(plain[2] as object), authid: (welcome[2] as { authid: unknown }).authid }, 'WELCOME advertises nothing new')

    client.sendBatch([1, 2, 3, 4, 5].map((i) => [MSG.CALL, i, {}, 'add', [i, 10]]))
    const results = []
    for (let i = 0; i < 5; i++) results.push(await client.next())
    t.same(results, [1, 2, 3, 4, 5].map((i) => [MSG.RESULT, i, {}, [i + 10]]))
    t.same(client.frameSizes, [1, 5], 'the five RESULTs of one tick leave as one WebSocket message')

    // Async handlers answer later, each in its own tick; the order of the batch's messages is kept on the way in.
    client.sendBatch([[MSG.CALL, 6, {}, 'later', [6]], [MSG.CALL, 7, {}, 'add', [1, 1]]])
    t.same(await client.next(), [MSG.RESULT, 7, {}, [2]])
    t.same(await client.next(), [MSG.RESULT, 6, {}, [6]])
    await client.close()
  })

  t.test(`issue 23: ${protocol}: malformed batches end the session with protocol_violation`, async (t) => {
    const { url, app } = await startApp(t, {}, (app) => { app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number)) })
    const open = async (): Promise<RawClient> => (await connectRaw(url, { protocols: [protocol] })).client
    const call = [MSG.CALL, 1, {}, 'add', [1, 2]]

    let client = await open()
    client.sendRaw(Buffer.alloc(0), name !== 'json')
    await expectViolation(t, client, /empty batch/)

    client = await open()
    client.sendRaw(Buffer.from('garbage'), name === 'json')
    await expectViolation(t, client, /frame received on/)

    if (name === 'json') {
      client = await open()
      client.sendRaw(Buffer.from(JSON.stringify(call)), false)
      await expectViolation(t, client, /record separator/)
    } else {
      client = await open()
      client.sendRaw(Buffer.concat([client.batch([call]), Buffer.from([0, 0])]), true)
      await expectViolation(t, client, /truncated/)
      client = await open()
      const whole = client.batch([call])
      client.sendRaw(whole.subarray(0, whole.length - 1), true)
      await expectViolation(t, client, /truncated/)
    }

    // A good message before a bad one is handled; nothing after the bad one is.
    client = await open()
    const garbage = name === 'json' ? '{"not": "a list"' : Buffer.from([0xc1, 0xff, 0xff])
    client.sendBatch([call, garbage, [MSG.CALL, 2, {}, 'add', [2, 2]]])
    t.same(await client.next(), [MSG.RESULT, 1, {}, [3]])
    await expectViolation(t, client, /could not be decoded|not plain WAMP data|not a list|message/)
    t.notOk(client.history.some((m) => m[0] === MSG.RESULT && m[1] === 2), 'the message after the bad part is not handled')

    // A well-formed part that is not a valid WAMP message is refused like an unbatched one.
    client = await open()
    client.sendBatch([[MSG.CALL, 'one', {}, 'add']])
    await expectViolation(t, client, /request id|CALL/)
    await until(() => app.wamp.sessions.size === 0)
  })
}

t.test('issue 23: a JSON batch separated by 0x18 (autobahn-python\'s b"\\30") is answered in kind', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number)) })
  const client = await openRaw(url, { protocols: ['wamp.2.json.batched'] })
  const frames: Buffer[] = []
  client.ws.on('message', (data: Buffer) => { frames.push(data) })
  client.sendRaw(JSON.stringify([MSG.HELLO, 'realm1', { roles: { caller: {} } }]) + '\x18', false)
  t.equal((await client.next())[0], MSG.WELCOME)
  client.sendRaw([1, 2].map((i) => JSON.stringify([MSG.CALL, i, {}, 'add', [i, i]]) + '\x18').join(''), false)
  t.same([await client.next(), await client.next()], [[MSG.RESULT, 1, {}, [2]], [MSG.RESULT, 2, {}, [4]]])
  t.ok(frames.every((f) => f[f.length - 1] === 0x18 && !f.includes(0x1e)), 'the answers use 0x18 too')
  // A batch mixing both separators is malformed: its last byte decides, and the other one breaks the JSON.
  client.sendRaw(JSON.stringify([MSG.CALL, 3, {}, 'add', [1, 1]]) + '\x1e' + JSON.stringify([MSG.CALL, 4, {}, 'add', [1, 1]]) + '\x18', false)
  await expectViolation(t, client, /could not be decoded/)
})

t.test('issue 23: subprotocol negotiation follows the client\'s order', async (t) => {
  const { url } = await startApp(t)
  const first = await openRaw(url, { protocols: ['wamp.2.msgpack.batched', 'wamp.2.json'] })
  t.equal(first.protocol, 'wamp.2.msgpack.batched')
  const second = await openRaw(url, { protocols: ['wamp.2.json', 'wamp.2.json.batched'] })
  t.equal(second.protocol, 'wamp.2.json')
  const refused = await openRaw(url, { protocols: ['wamp.2.xml.batched'] }).then(() => undefined, (err: { statusCode: number, body: string }) => err)
  t.equal(refused?.statusCode, 400)
  t.match(refused?.body, /wamp\.2\.cbor\.batched/)
  await first.close()
  await second.close()
})

t.test('issue 23: a PUBLISH fans out to batched and unbatched subscribers alike', async (t) => {
  const { url, app } = await startApp(t, { realms: [{ name: 'realm1', broker: true }] })
  const protocols = ['wamp.2.json.batched', 'wamp.2.json', 'wamp.2.msgpack.batched', 'wamp.2.cbor']
  const subscribers: RawClient[] = []
  for (const protocol of protocols) {
    const { client } = await connectRaw(url, { protocols: [protocol] })
    client.send([MSG.SUBSCRIBE, 1, {}, 'news'])
    t.equal((await client.next())[0], MSG.SUBSCRIBED)
    subscribers.push(client)
  }
  const { client: publisher } = await connectRaw(url, { protocols: ['wamp.2.json.batched'] })
  publisher.sendBatch([1, 2, 3].map((i) => [MSG.PUBLISH, i, { acknowledge: true }, 'news', [i]]))
  for (let i = 1; i <= 3; i++) t.same((await publisher.next()).slice(0, 2), [MSG.PUBLISHED, i])
  for (const client of subscribers) {
    const events = [await client.next(), await client.next(), await client.next()]
    t.same(events.map((e) => [e[0], e[4]]), [[MSG.EVENT, [1]], [MSG.EVENT, [2]], [MSG.EVENT, [3]]], client.protocol)
  }
  t.same(subscribers[0].frameSizes.slice(-1), [3], 'the batched subscriber got the three EVENTs in one frame')

  // The application's publishes of one tick: one frame for a batched subscriber.
  for (let i = 0; i < 10; i++) app.wamp.publishToAll('news', [i])
  for (let i = 0; i < 10; i++) t.same((await subscribers[2].next())[4], [i])
  t.same(subscribers[2].frameSizes.slice(-1), [10])
  for (const client of [...subscribers, publisher]) await client.close()
})

t.test('issue 23: batches stay within maxPayload both ways', async (t) => {
  const maxPayload = 2000
  const { url } = await startApp(t, { maxPayload }, (app) => {
    app.wamp.register('blob', (args) => 'x'.repeat(args[0] as number))
  })
  const { client } = await connectRaw(url, { protocols: ['wamp.2.json.batched'] })
  const sizes = frameBytes(client)
  // Three results of ~900 bytes: together over maxPayload, so they leave in two frames.
  client.sendBatch([1, 2, 3].map((i) => [MSG.CALL, i, {}, 'blob', [900]]))
  for (let i = 1; i <= 3; i++) t.same((await client.next()).slice(0, 2), [MSG.RESULT, i])
  t.same(client.frameSizes, [1, 2, 1])
  t.ok(sizes.every((s) => s <= maxPayload), `frames of ${sizes.join(', ')} bytes`)

  // A result that fits maxPayload alone but not with its separator is refused as too large, as any larger one.
  const exact = maxPayload - JSON.stringify([MSG.RESULT, 4, {}, ['']]).length
  client.send([MSG.CALL, 4, {}, 'blob', [exact]])
  t.same((await client.next()).slice(0, 5), [MSG.ERROR, MSG.CALL, 4, {}, 'wamp.error.payload_size_exceeded'])
  client.send([MSG.CALL, 5, {}, 'blob', [exact - 1]])
  t.same((await client.next()).slice(0, 2), [MSG.RESULT, 5])
  t.equal(sizes[sizes.length - 1], maxPayload)

  // A frame over maxPayload closes the socket with 1009, whatever it holds.
  client.sendBatch([1, 2, 3].map((i) => [MSG.CALL, 10 + i, {}, 'blob', ['y'.repeat(800)]]))
  t.equal((await client.expectClose()).code, 1009)
})

t.test('issue 23: a batch waits, in order, while an async authorization decides', async (t) => {
  const { url } = await startApp(t, {
    authorize: async (_session, action, uri) => {
      if (action === 'call' && uri === 'slow') await sleep(20)
      return true
    }
  }, (app) => {
    app.wamp.register('slow', () => 'slow')
    app.wamp.register('fast', () => 'fast')
  })
  const { client } = await connectRaw(url, { protocols: ['wamp.2.cbor.batched'] })
  client.sendBatch([[MSG.CALL, 1, {}, 'slow'], [MSG.CALL, 2, {}, 'fast'], [MSG.CALL, 3, {}, 'slow']])
  const results = [await client.next(), await client.next(), await client.next()]
  t.same(results.map((r) => r[1]), [1, 2, 3])
  await client.close()
})

// autobahn-python offers the batched subprotocols first by default: the real client against the real server.
const hasAutobahn = pythonHas('autobahn', 'msgpack', 'cbor2')

for (const name of SERIALIZERS) {
  t.test(`issue 23: autobahn-python over wamp.2.${name}.batched calls, subscribes and receives a burst`, { skip: !hasAutobahn && 'python3-autobahn is not installed' }, async (t) => {
    const { url, app } = await startApp(t, {}, (app) => {
      app.wamp.register('add', (args) => (args[0] as number) + (args[1] as number))
      app.wamp.register('burst', (args) => {
        for (let i = 0; i < (args[0] as number); i++) app.wamp.publishToAll('news', [i])
        return null
      })
    })
    const { code, err, line } = await runPythonHelper('autobahn-batched.py', [url, name])
    t.equal(code, 0, err)
    t.same(line, { protocol: `wamp.2.${name}.batched`, sum: 60, events: [0, 1, 2, 3, 4] })
    await until(() => app.wamp.sessions.size === 0)
  })
}
