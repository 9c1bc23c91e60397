import t from 'tap'
import type { RawData } from 'ws'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG, openRaw } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'

// JSON can spell a lone surrogate ("\ud800"), which is not Unicode text; msgpackr and cbor-x write it as the bytes
// ED A0 80, which are not UTF-8, and strict decoders (autobahn-python, most non-JS msgpack and CBOR libraries) refuse
// the whole message. So a JSON client could break every msgpack and CBOR peer it publishes or calls to. Such a string
// is refused where every frame is checked (PROTOCOL §7.1): ABORT protocol_violation. And the server never cuts one of
// its own messages (a URI quoted in an error) inside a surrogate pair.

/** Every binary frame `client` receives, as sent. */
function framesOf (client: RawClient): Buffer[] {
  const frames: Buffer[] = []
  client.ws.on('message', (data: RawData, isBinary: boolean) => { if (isBinary) frames.push(data as Buffer) })
  return frames
}

/** The UTF-8 encoding of a surrogate code point (ED A0..BF xx): never in valid UTF-8, always in what a lone one becomes. */
function holdsSurrogateBytes (frame: Buffer): boolean {
  for (let i = 0; i + 1 < frame.length; i++) if (frame[i] === 0xed && frame[i + 1] >= 0xa0 && frame[i + 1] <= 0xbf) return true
  return false
}

const LONE = ['"a\\ud800b"', '"\\udfff"', '"\\ude00\\ud83d"']

t.test('a JSON string holding a lone surrogate (in args, kwargs, options or a dict key) → ABORT protocol_violation', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('echo', (args) => args[0]) })
  const frames = LONE.flatMap((s) => [
    `[48,1,{},"echo",[${s}]]`,
    `[48,1,{},"echo",[],{"k":${s}}]`,
    `[48,1,{"x":${s}},"echo"]`,
    `[48,1,{},"echo",[{${s}:1}]]`,
    `[16,1,{},"com.topic",[[${s}]]]`,
    `[1,"realm1",{"roles":{"caller":{}},"authid":${s}}]`
  ])
  for (const frame of frames) {
    // HELLO on a fresh socket; the rest on an open session.
    const client = frame.startsWith('[1,') ? await openRaw(url) : (await connectRaw(url)).client
    client.sendRaw(frame)
    t.match(await client.next(), [MSG.ABORT, { message: /not well-formed Unicode/ }, 'wamp.error.protocol_violation'], frame)
    await client.closed
  }
})

t.test('surrogate pairs (well-formed) pass through to msgpack and CBOR peers unchanged', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', broker: true }] })
  for (const protocol of ['wamp.2.msgpack', 'wamp.2.cbor']) {
    const { client: subscriber } = await connectRaw(url, { protocols: [protocol] })
    const frames = framesOf(subscriber)
    subscriber.send([MSG.SUBSCRIBE, 1, {}, 'com.topic'])
    t.equal((await subscriber.next())[0], MSG.SUBSCRIBED)
    const { client: publisher } = await connectRaw(url)
    publisher.sendRaw('[16,1,{"acknowledge":true},"com.topic",["\\ud83d\\ude00"],{"\\ud83d\\ude00":"x"}]')
    t.equal((await publisher.next())[0], MSG.PUBLISHED)
    t.match(await subscriber.next(), [MSG.EVENT, Number, Number, {}, ['😀'], { '😀': 'x' }], protocol)
    t.notOk(frames.some(holdsSurrogateBytes), 'valid UTF-8 on the wire')
    await publisher.close()
    await subscriber.close()
  }
})

t.test('router mode: a JSON caller cannot send a lone surrogate to a msgpack callee; the callee lives on', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', router: true }] })
  const { client: callee } = await connectRaw(url, { protocols: ['wamp.2.msgpack'] })
  const frames = framesOf(callee)
  callee.send([MSG.REGISTER, 1, {}, 'com.p'])
  t.equal((await callee.next())[0], MSG.REGISTERED)
  const { client: caller } = await connectRaw(url)
  caller.sendRaw('[48,7,{},"com.p",["\\ud800"]]')
  t.match(await caller.next(), [MSG.ABORT, {}, 'wamp.error.protocol_violation'])
  const { client: honest } = await connectRaw(url)
  honest.send([MSG.CALL, 8, {}, 'com.p', ['ok']])
  const invocation = await callee.next()
  t.match(invocation, [MSG.INVOCATION, Number, Number, {}, ['ok']], 'the first thing the callee sees is the honest call')
  callee.send([MSG.YIELD, invocation[1], {}, ['done']])
  t.match(await honest.next(), [MSG.RESULT, 8, {}, ['done']])
  t.notOk(frames.some(holdsSurrogateBytes))
  await honest.close()
  await callee.close()
})

t.test('a URI quoted in an error is never cut inside a surrogate pair (msgpack and CBOR get valid UTF-8)', async (t) => {
  const { url } = await startApp(t)
  for (const protocol of ['wamp.2.msgpack', 'wamp.2.cbor']) {
    const { client } = await connectRaw(url, { protocols: [protocol] })
    const frames = framesOf(client)
    // 199 characters, then an emoji whose high surrogate is the 200th code unit; the space makes it invalid.
    const uri = 'a'.repeat(199) + '😀 x'
    client.send([MSG.SUBSCRIBE, 1, {}, uri])
    const error = await client.next()
    t.match(error, [MSG.ERROR, MSG.SUBSCRIBE, 1, {}, 'wamp.error.invalid_uri', [/^"a{199}…" is not a valid/]], protocol)
    t.notOk(frames.some(holdsSurrogateBytes), 'valid UTF-8 on the wire')
    await client.close()
  }
})

// msgpackr and cbor-x read bytes that are not UTF-8 in a string as U+FFFD: the message went on altered. Such a
// string is refused as JSON text that is not UTF-8 is (PROTOCOL §7.1); U+FFFD itself, spelled EF BF BD, passes.
const NOT_UTF8: Record<string, number[]> = {
  'a stray 0xFF': [0xff],
  'an encoded surrogate': [0xed, 0xa0, 0x80],
  'an overlong form': [0xc0, 0xaf],
  'a cut-off sequence': [0xe2, 0x82],
  'past U+10FFFF': [0xf4, 0x90, 0x80, 0x80]
}

/** `message` encoded by `client`, with the placeholder run of 'Q' in one of its strings replaced by `bytes`. */
function withBytes (client: RawClient, message: (placeholder: string) => unknown[], bytes: number[]): Buffer {
  const placeholder = 'Q'.repeat(bytes.length)
  const frame = Buffer.from(client.encode(message(placeholder)) as Buffer)
  const at = frame.indexOf(placeholder)
  Buffer.from(bytes).copy(frame, at)
  return frame
}

t.test('msgpack and CBOR strings that are not UTF-8 (in args, kwargs, a dict key, a URI) → ABORT protocol_violation', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('echo', (args) => args[0]) })
  const places: Array<[string, (q: string) => unknown[]]> = [
    ['args', (q) => [MSG.CALL, 1, {}, 'echo', [`a${q}z`]]],
    ['kwargs', (q) => [MSG.CALL, 1, {}, 'echo', [], { k: `${q}\uFFFD` }]],
    ['a dict key', (q) => [MSG.CALL, 1, {}, 'echo', [{ [`k${q}`]: 1 }]]],
    ['the URI', (q) => [MSG.CALL, 1, {}, `echo${q}`]]
  ]
  for (const protocol of ['wamp.2.msgpack', 'wamp.2.cbor']) {
    for (const [name, bytes] of Object.entries(NOT_UTF8)) {
      for (const [place, message] of places) {
        const { client } = await connectRaw(url, { protocols: [protocol] })
        client.sendRaw(withBytes(client, message, bytes))
        t.match(await client.next(), [MSG.ABORT, { message: /not UTF-8/ }, 'wamp.error.protocol_violation'], `${protocol}: ${name} in ${place}`)
        await client.closed
      }
    }
  }
})

t.test('U+FFFD itself passes through msgpack and CBOR, beside binary that holds its bytes', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.register('echo', (args, kwargs) => ({ args, kwargs })) })
  for (const protocol of ['wamp.2.msgpack', 'wamp.2.cbor']) {
    const { client } = await connectRaw(url, { protocols: [protocol] })
    const blob = Buffer.from([0xef, 0xbf, 0xbd, 0xff])
    client.send([MSG.CALL, 1, {}, 'echo', ['\uFFFD\uFFFDa', blob], { '\uFFFD': '\uFFFD' }])
    const result = await client.next()
    t.match(result, [MSG.RESULT, 1, {}, [{ args: ['\uFFFD\uFFFDa'], kwargs: { '\uFFFD': '\uFFFD' } }]], protocol)
    t.same([...((result[3] as Array<{ args: unknown[] }>)[0].args[1] as Uint8Array)], [...blob], 'the binary, unchanged')
    await client.close()
  }
})
