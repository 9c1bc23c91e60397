import t from 'tap'
import fc from 'fast-check'
import { startApp } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { WampResult } from '../index.js'

// The args/kwargs omission rule on every outgoing message that carries a payload (lib/wire/messages.ts withPayload):
// empty kwargs are dropped, then empty args unless kwargs follow, where `[]` holds their place. Checked end to end on
// INVOCATION, RESULT and ERROR of routed calls and on RESULT of an application procedure, for any mix of absent,
// empty and non-empty args and kwargs.

type Kwargs = Record<string, unknown>
/** What a peer can put on the wire: args only if present, kwargs only after args. */
interface Payload { args?: unknown[], kwargs?: Kwargs }

const value = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean())
const argsArb = fc.option(fc.array(value, { maxLength: 3 }), { nil: undefined })
const kwargsArb = fc.option(fc.dictionary(fc.constantFrom('a', 'b', 'c'), value, { maxKeys: 2 }), { nil: undefined })
const wirePayload: fc.Arbitrary<Payload> = fc.tuple(argsArb, kwargsArb).map(([args, kwargs]) => args === undefined ? {} : { args, kwargs })

/** What the application can return: args and kwargs may be absent on their own, kwargs come without args. */
const appPayload: fc.Arbitrary<Payload> = fc.record({ args: argsArb, kwargs: kwargsArb })

const tail = ({ args, kwargs }: Payload): unknown[] => kwargs !== undefined ? [args, kwargs] : args !== undefined ? [args] : []
/** The payload part of an outgoing message, by the omission rule. */
function expected ({ args, kwargs }: Payload): unknown[] {
  if (kwargs !== undefined && Object.keys(kwargs).length > 0) return [args ?? [], kwargs]
  return args !== undefined && args.length > 0 ? [args] : []
}

t.test('INVOCATION, RESULT and ERROR of routed and application calls follow the omission rule', async (t) => {
  const { url } = await startApp(t, { realms: [{ name: 'realm1', router: true }] }, (app) => {
    app.wamp.register('app.echo', (_args, kwargs) => new WampResult(kwargs.args as unknown[] | undefined, kwargs.kwargs as Kwargs | undefined))
  })
  const { client: callee } = await connectRaw(url)
  callee.send([MSG.REGISTER, 1, {}, 'com.echo'])
  const registered = await callee.next()
  t.equal(registered[0], MSG.REGISTERED)
  const { client: caller } = await connectRaw(url)
  let id = 0

  await fc.assert(fc.asyncProperty(wirePayload, wirePayload, fc.boolean(), appPayload, async (call, answer, fails, result) => {
    const requestId = ++id
    caller.send([MSG.CALL, requestId, {}, 'com.echo', ...tail(call)])
    const invocation = await callee.next()
    if (JSON.stringify(invocation) !== JSON.stringify([MSG.INVOCATION, invocation[1], registered[2], { procedure: 'com.echo' }, ...expected(call)])) return false
    callee.send(fails
      ? [MSG.ERROR, MSG.INVOCATION, invocation[1], {}, 'com.error', ...tail(answer)]
      : [MSG.YIELD, invocation[1], {}, ...tail(answer)])
    const reply = await caller.next()
    const head = fails ? [MSG.ERROR, MSG.CALL, requestId, {}, 'com.error'] : [MSG.RESULT, requestId, {}]
    if (JSON.stringify(reply) !== JSON.stringify([...head, ...expected(answer)])) return false

    caller.send([MSG.CALL, ++id, {}, 'app.echo', [], result])
    return JSON.stringify(await caller.next()) === JSON.stringify([MSG.RESULT, id, {}, ...expected(result)])
  }), { numRuns: 150 })
  await Promise.all([caller.close(), callee.close()])
})
