import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG, openRaw } from './helpers/raw-client.js'

// URI length: each subscription and registration keeps its URI, so without a bound one client could pin
// maxSubscriptionsPerSession + maxRegistrationsPerSession URIs of maxPayload bytes each (2 GB with the defaults).

const MAX = 1024
const uri = (length: number, tail = ''): string => 'com.' + 'a'.repeat(length - 4 - tail.length) + tail

t.test('URIs longer than 1024 characters are refused with invalid_uri (SUBSCRIBE, REGISTER, CALL, PUBLISH), quoting at most 200 of them', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', router: true, broker: true }] })
  const { client } = await connectRaw(url)
  const long = uri(MAX + 1)
  const requests: Array<[number, unknown[]]> = [
    [MSG.SUBSCRIBE, [MSG.SUBSCRIBE, 1, {}, long]],
    [MSG.SUBSCRIBE, [MSG.SUBSCRIBE, 2, { match: 'prefix' }, long]],
    [MSG.SUBSCRIBE, [MSG.SUBSCRIBE, 3, { match: 'wildcard' }, long]],
    [MSG.REGISTER, [MSG.REGISTER, 4, {}, long]],
    [MSG.REGISTER, [MSG.REGISTER, 5, { match: 'prefix' }, long]],
    [MSG.CALL, [MSG.CALL, 6, {}, long]],
    [MSG.PUBLISH, [MSG.PUBLISH, 7, { acknowledge: true }, long]]
  ]
  for (const [type, msg] of requests) {
    client.send(msg)
    const answer = await client.next()
    t.match(answer, [MSG.ERROR, type, msg[1], {}, 'wamp.error.invalid_uri'], `${String(msg[1])}`)
    t.ok(((answer[5] as string[])[0]).length < 300, 'the error message does not echo the whole URI')
  }
  client.send([MSG.SUBSCRIBE, 8, {}, uri(MAX)])
  t.equal((await client.next())[0], MSG.SUBSCRIBED, '1024 characters are fine')
  client.send([MSG.REGISTER, 9, {}, uri(MAX)])
  t.equal((await client.next())[0], MSG.REGISTERED)
  await client.close()
})

t.test('a HELLO realm longer than 1024 characters: ABORT protocol_violation with a short message', async (t) => {
  const { url } = await startApp(t)
  const client = await openRaw(url)
  const abort = await client.hello('x'.repeat(1_000_000))
  t.match(abort, [MSG.ABORT, {}, 'wamp.error.protocol_violation'])
  t.ok((abort[1] as { message: string }).message.length < 300)
  await client.closed
})

t.test('REGISTER.Options are kept with the registration: a REGISTER over 16 KiB → ERROR invalid_argument, nothing registered', async (t) => {
  const { app, url } = await startApp(t, { realms: [{ name: 'realm1', router: true }] })
  for (const protocol of ['wamp.2.json', 'wamp.2.msgpack.batched']) {
    const { client, sessionId } = await connectRaw(url, { protocols: [protocol] })
    client.send([MSG.REGISTER, 1, { junk: 'x'.repeat(17 * 1024) }, 'com.big'])
    t.match(await client.next(), [MSG.ERROR, MSG.REGISTER, 1, {}, 'wamp.error.invalid_argument', [/at most 16384 bytes/]], protocol)
    t.notOk(app.wamp.sessions.get(sessionId)?.hasRegistration('com.big'), 'nothing registered')
    client.send([MSG.REGISTER, 2, { note: 'x'.repeat(15 * 1024) }, 'com.big'])
    t.equal((await client.next())[0], MSG.REGISTERED, 'within the bound')
    await client.close()
  }
})
