import t from 'tap'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { rpcCluster, untilRegistered } from './helpers/cluster.js'
import { inspector } from './helpers/redis.js'
import { startApp, sleep, until } from './helpers/app.js'
import { connectRaw, MSG, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { callOps, terminalOf } from './helpers/call-ops.js'
import type { CallOp } from './helpers/call-ops.js'

// PROTOCOL §7.4 and §7.5 where the other exactly-once tests do not reach: one request id, one terminal message, and
// nothing for it after that, on one instance.

const STREAMING = { details: STREAMING_HELLO_DETAILS }

/** The messages before the answer to a CALL of `ping` with `id` (order proves nothing else came in between). */
async function before (client: RawClient, id: number): Promise<unknown[][]> {
  client.send([MSG.CALL, id, {}, 'ping'])
  const got: unknown[][] = []
  for (;;) {
    const msg = await client.next()
    if (msg[0] === MSG.RESULT && msg[1] === id) return got
    got.push(msg)
  }
}

for (const decision of [false, true]) {
  t.test(`a streamed call refused after a slow authorization (${decision ? 'allowed, no such procedure' : 'denied'}): one ERROR, its later chunks dropped`, async (t) => {
    let gate: ((allowed: boolean) => void) | undefined
    let checks = 0
    const { url } = await startApp(t, {
      streamGrace: 50,
      authorize: (_s, _action, uri) => {
        if (uri === 'ping') return true
        checks++
        if (checks > 1) return decision
        return new Promise<boolean>((resolve) => { gate = resolve })
      }
    }, (app) => {
      app.wamp.register('ping', () => 'pong')
      app.wamp.register('other.upload', async () => 'never', { input: 'stream' })
    })
    const { client } = await connectRaw(url, STREAMING)
    client.send([MSG.CALL, 1, { progress: true }, 'up', ['a']])
    client.send([MSG.CALL, 1, { progress: true }, 'up', ['b']])
    client.send([MSG.CALL, 1, {}, 'up', ['c']])
    await until(() => gate !== undefined)
    await sleep(100) // the authorizer is slower than streamGrace
    gate?.(decision)
    const answers = (await before(client, 2)).filter((m) => m[2] === 1)
    t.equal(answers.length, 1, `one answer for request 1 (got ${JSON.stringify(answers)})`)
    t.match(answers[0], [MSG.ERROR, MSG.CALL, 1, {}, decision ? 'wamp.error.no_such_procedure' : 'wamp.error.not_authorized'])
    t.equal(checks, 1, 'the chunks were not taken for new calls')
    client.send([MSG.CALL, 1, {}, 'ping'])
    t.same(await client.next(), [MSG.RESULT, 1, {}, ['pong']], 'after the final chunk the id is free')
    await client.close()
  })
}

// Router mode with a client callee that also streams progressive results, answers late and twice: the caller gets one
// terminal message per request id and nothing after it; the callee gets at most one INTERRUPT per invocation and no
// INVOCATION (chunk) after it.

type Op = CallOp
const opArb = callOps({ timeouts: [0, 0, 3, 30], maxSleep: 6, progress: 3, chunks: 2 })

function callerProblem (history: unknown[][]): string | undefined {
  const ended = new Set<number>()
  for (const msg of history) {
    const id = msg[0] === MSG.ERROR ? msg[2] as number : msg[0] === MSG.RESULT ? msg[1] as number : undefined
    if (id === undefined) continue
    if (ended.has(id)) return `message after the terminal one for request ${id}: ${JSON.stringify(msg)}`
    if (terminalOf(msg) !== undefined) ended.add(id)
  }
  return undefined
}

function calleeProblem (history: unknown[][]): string | undefined {
  const interrupted = new Set<number>()
  for (const msg of history) {
    if (msg[0] === MSG.INTERRUPT) {
      if (interrupted.has(msg[1] as number)) return `a second INTERRUPT for invocation ${String(msg[1])}`
      interrupted.add(msg[1] as number)
    }
    if (msg[0] === MSG.INVOCATION && interrupted.has(msg[1] as number)) return `INVOCATION after INTERRUPT: ${JSON.stringify(msg)}`
  }
  return undefined
}

const CALLEE_DETAILS = {
  roles: { ...STREAMING_HELLO_DETAILS.roles, callee: { features: { progressive_call_invocations: true, call_canceling: true, progressive_call_results: true } } }
}

interface Place { callerUrl: string, calleeUrl: string, registered: (n: number) => Promise<void>, sessions: () => number }

function routerProperty (place: Place): fc.IAsyncPropertyWithHooks<[Op[]]> {
  return fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
    const { client: callee } = await connectRaw(place.calleeUrl, { details: CALLEE_DETAILS })
    const { client: caller } = await connectRaw(place.callerUrl, STREAMING)
    try {
      callee.send([MSG.REGISTER, 1, {}, 'r.proc'])
      await callee.next()
      await place.registered(1)
      const calls: Array<{ id: number, streaming: boolean }> = []
      const invocationsOf = (id: number): number[] => callee.history
        .filter((m) => m[0] === MSG.INVOCATION && (m[4] as unknown[] | undefined)?.[0] === id).map((m) => m[1] as number)
      for (const op of ops) {
        const call = calls.length === 0 ? undefined : calls[((op as { call?: number }).call ?? 0) % calls.length]
        switch (op.op) {
          case 'start': {
            const id = calls.length + 1
            const options: Record<string, unknown> = {}
            if (op.streamed) options.progress = true
            if (op.timeout > 0) options.timeout = op.timeout
            if (op.progress) options.receive_progress = true
            caller.send([MSG.CALL, id, options, 'r.proc', [id]])
            calls.push({ id, streaming: op.streamed })
            break
          }
          case 'chunk':
            if (call === undefined || !call.streaming) break
            caller.send([MSG.CALL, call.id, op.last ? {} : { progress: true }, 'r.proc', [call.id]])
            if (op.last) call.streaming = false
            break
          case 'progress':
            for (const inv of new Set(invocationsOf(call?.id ?? -1))) callee.send([MSG.YIELD, inv, { progress: true }, ['p']])
            break
          case 'answer':
            for (const inv of new Set(invocationsOf(call?.id ?? -1))) {
              callee.send(op.ok ? [MSG.YIELD, inv, {}, ['ok']] : [MSG.ERROR, MSG.INVOCATION, inv, {}, 'app.error.no'])
            }
            break
          case 'cancel':
            if (call !== undefined) caller.send([MSG.CANCEL, call.id, { mode: op.mode }])
            break
          case 'sleep':
            await sleep(op.ms)
        }
      }
      for (const call of calls) if (call.streaming) caller.send([MSG.CALL, call.id, {}, 'r.proc', [call.id]])
      await until(() => {
        for (const call of calls) for (const inv of new Set(invocationsOf(call.id))) callee.send([MSG.YIELD, inv, {}, ['end']])
        const ended = new Set(caller.history.map(terminalOf))
        return calls.every((c) => ended.has(c.id))
      }, 5000, 'every call to end')
      await before(caller, 1000)
      const problem = callerProblem(caller.history) ?? calleeProblem(callee.history)
      if (problem !== undefined) throw new Error(problem)
    } finally {
      await Promise.all([caller.terminate(), callee.terminate()])
    }
    await until(() => place.sessions() === 0)
    await place.registered(0)
  })
}

const ping = (app: FastifyInstance): void => { app.wamp.register('ping', () => 'pong') }

t.test('router mode, property: progressive results, late and double answers, cancels and timeouts (fixed seed)', async (t) => {
  const { app, url } = await startApp(t, { realms: [{ name: 'realm1', router: true }], streamGrace: 200 }, ping)
  await fc.assert(routerProperty({ callerUrl: url, calleeUrl: url, registered: async () => {}, sessions: () => app.wamp.sessions.size }),
    { numRuns: 60, seed: 20240917 })
})

t.test('the same across two instances through Redis (fixed seed)', async (t) => {
  const { apps: [a, b], prefix } = await rpcCluster(t, 2, { realms: [{ name: 'realm1', router: true }], streamGrace: 200 }, ping)
  const redis = inspector(t)
  await fc.assert(routerProperty({
    callerUrl: a.url,
    calleeUrl: b.url,
    registered: (n) => untilRegistered(redis, prefix, 'r.proc', n),
    sessions: () => a.app.wamp.sessions.size + b.app.wamp.sessions.size
  }), { numRuns: 25, seed: 20240917 })
})
