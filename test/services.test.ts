import t from 'tap'
import Type from 'typebox'
import { startApp, until } from './helpers/app.js'
import { connectRaw, MSG } from './helpers/raw-client.js'
import { procedure, topic, WampError } from '../index.js'
import type { CallContext, PublishContext } from '../index.js'

class Counter {
  static prefix = 'com.counter'
  total = 0
  events: string[] = []

  @procedure({ args: Type.Tuple([Type.Integer()]) })
  add ([n]: [number]): number {
    this.total += n
    return this.total
  }

  @procedure(undefined, { name: 'current.value' })
  value (): number {
    return this.total
  }

  @procedure()
  whoami (_args: unknown[], _kwargs: unknown, ctx: CallContext): number {
    return ctx.session.id
  }

  @procedure()
  fail (): never {
    throw new WampError('com.counter.error.refused', ['no'])
  }

  @topic({ args: Type.Tuple([Type.String()]) })
  note ([text]: [string], _kwargs: unknown, ctx: PublishContext): void {
    this.events.push(`${ctx.topic}:${text}`)
  }

  helper (): string {
    return 'not exposed'
  }
}

class LoudCounter extends Counter {
  @procedure({ args: Type.Tuple([Type.Integer()]) })
  override add ([n]: [number]): number {
    return super.add([n * 10])
  }
}

t.test('a class service exposes its decorated methods under its prefix, bound to the instance', async (t) => {
  const counter = new Counter()
  const { url } = await startApp(t, {}, (app) => { app.wamp.service(counter) })
  const { client, sessionId } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'com.counter.add', [2]])
  t.same(await client.next(), [MSG.RESULT, 1, {}, [2]])
  client.send([MSG.CALL, 2, {}, 'com.counter.current.value'])
  t.same(await client.next(), [MSG.RESULT, 2, {}, [2]], 'a custom name')
  client.send([MSG.CALL, 3, {}, 'com.counter.add', ['x']])
  t.same((await client.next()).slice(4, 5), ['wamp.error.invalid_argument'], 'the schema applies')
  client.send([MSG.CALL, 4, {}, 'com.counter.whoami'])
  t.same(await client.next(), [MSG.RESULT, 4, {}, [sessionId]])
  client.send([MSG.CALL, 5, {}, 'com.counter.fail'])
  t.same((await client.next()).slice(4), ['com.counter.error.refused', ['no']])
  client.send([MSG.CALL, 6, {}, 'com.counter.helper'])
  t.same((await client.next()).slice(4, 5), ['wamp.error.no_such_procedure'], 'undecorated methods stay private')
  client.send([MSG.PUBLISH, 7, { acknowledge: true }, 'com.counter.note', ['hi']])
  t.equal((await client.next())[0], MSG.PUBLISHED)
  await until(() => counter.events.length === 1)
  t.same(counter.events, ['com.counter.note:hi'])
  await client.close()
})

t.test('a subclass override decides, and an explicit prefix wins', async (t) => {
  const { url } = await startApp(t, {}, (app) => { app.wamp.service(new LoudCounter(), 'com.loud') })
  const { client } = await connectRaw(url)
  client.send([MSG.CALL, 1, {}, 'com.loud.add', [2]])
  t.same(await client.next(), [MSG.RESULT, 1, {}, [20]])
  client.send([MSG.CALL, 2, {}, 'com.loud.current.value'])
  t.same(await client.next(), [MSG.RESULT, 2, {}, [20]], 'inherited methods are exposed too')
  await client.close()
})

t.test('services without a prefix or without decorated methods are refused at register time', async (t) => {
  const { app } = await startApp(t)
  t.throws(() => app.wamp.service({}), { code: 'FST_WAMP_INVALID_OPTION' })
  t.throws(() => app.wamp.service(new (class { prefix = 'com.empty' })()), { code: 'FST_WAMP_INVALID_OPTION' })
})
