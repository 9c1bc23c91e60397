import t from 'tap'
import fc from 'fast-check'
import { startApp, sleep, until, internal } from './helpers/app.js'
import { rpcCluster } from './helpers/cluster.js'
import { connectRaw, MSG, STREAMING_HELLO_DETAILS } from './helpers/raw-client.js'
import type { RawClient } from './helpers/raw-client.js'
import { eventually, inspector } from './helpers/redis.js'
import type { Redis } from 'ioredis'
import { WampError } from '../index.js'
import type { FastifyInstance } from 'fastify'
import type { WampSession as Session } from '../index.js'
import { callOps, terminalOf } from './helpers/call-ops.js'
import type { CallOp } from './helpers/call-ops.js'

// Issue 16, PROTOCOL §7.5: whatever races — chunks, CANCEL (every mode), timeout, the callee's YIELD/ERROR, a
// side leaving, shutdown — every request id gets exactly one terminal message and nothing after it, and nothing is
// left in any in-flight table afterwards. Locally (app procedures), in router mode (a client callee), and across
// two instances through Redis.

type Dict = Record<string, unknown>
type Mode = 'local' | 'router' | 'cluster'
type End = 'settle' | 'callerLeaves' | 'calleeLeaves' | 'shutdown'

type Op = CallOp
const opArb = callOps({ timeouts: [0, 0, 5, 40], maxSleep: 8, progress: 0, chunks: 3 })

const CALLEE_FEATURES = { progressive_call_invocations: true, call_canceling: true, progressive_call_results: true }
const CALLEE_DETAILS = { roles: { ...STREAMING_HELLO_DETAILS.roles, callee: { features: CALLEE_FEATURES } } }

/** The application's side of local calls: each call id's handler waits for the test to answer it. */
class Handlers {
  readonly waiting = new Map<number, { resolve: (v: unknown) => void, reject: (e: unknown) => void }>()

  install (app: FastifyInstance): void {
    const wait = (id: number, signal: AbortSignal): Promise<unknown> => new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      signal.addEventListener('abort', () => reject(signal.reason))
    })
    app.wamp.register('p.plain', (args, _k, ctx) => wait(args[0] as number, ctx.signal))
    app.wamp.register('p.stream', async (args, _k, ctx) => {
      const answer = wait(args[0] as number, ctx.signal)
      answer.catch(() => {})
      let n = 0
      for await (const chunk of ctx.input ?? []) {
        n++
        if (chunk.args[1] === 'end') break
      }
      ctx.progress(n)
      return await answer
    }, { input: 'stream' })
  }

  answer (id: number, ok: boolean): void {
    const w = this.waiting.get(id)
    this.waiting.delete(id)
    if (ok) w?.resolve('ok')
    else w?.reject(new WampError('app.error.no'))
  }
}

/** A raw client callee that remembers each invocation's call id (the first argument of its first chunk). */
class Callee {
  readonly invocations = new Map<number, number>()
  private seen = 0
  constructor (readonly client: RawClient) {}

  read (): void {
    const history = this.client.history
    for (; this.seen < history.length; this.seen++) {
      const msg = history[this.seen]
      if (msg[0] === MSG.INVOCATION && !this.invocations.has(msg[1] as number)) this.invocations.set(msg[1] as number, (msg[4] as number[])[0])
    }
  }

  answer (id: number, ok: boolean): void {
    this.read()
    for (const [inv, call] of this.invocations) {
      if (call !== id) continue
      this.client.send(ok ? [MSG.YIELD, inv, {}, ['ok']] : [MSG.ERROR, MSG.INVOCATION, inv, {}, 'app.error.no'])
    }
  }

  answerAll (): void {
    this.read()
    for (const inv of this.invocations.keys()) this.client.send([MSG.YIELD, inv, {}, ['ok']])
    this.invocations.clear()
  }
}

function idOf (msg: unknown[]): number | undefined {
  if (msg[0] === MSG.ERROR) return msg[2] as number
  if (msg[0] === MSG.RESULT) return msg[1] as number
  return undefined
}

/** Every id at most one terminal, nothing for an id after its terminal, nothing at all after GOODBYE. */
function checkHistory (history: unknown[][]): Map<number, number> {
  const terminals = new Map<number, number>()
  let goodbye = false
  for (const msg of history) {
    if (goodbye && msg[0] !== MSG.ABORT) throw new Error(`message after GOODBYE: ${JSON.stringify(msg)}`)
    if (msg[0] === MSG.GOODBYE) goodbye = true
    const id = idOf(msg)
    if (id === undefined) continue
    if (terminals.has(id)) throw new Error(`message after the terminal one for request ${id}: ${JSON.stringify(msg)}`)
    if (terminalOf(msg) !== undefined) terminals.set(id, 1)
  }
  return terminals
}

function tablesEmpty (sessions: Iterable<Session>): string | undefined {
  for (const s of sessions) {
    if (internal(s).calls.size + internal(s).invocations.size + internal(s).routed.size + internal(s).streams.size !== 0) {
      return `session ${s.id}: calls ${internal(s).calls.size}, invocations ${internal(s).invocations.size}, routed ${internal(s).routed.size}, streams ${internal(s).streams.size}`
    }
  }
  return undefined
}

interface Setup {
  mode: Mode
  callerUrl: string
  calleeUrl: string
  apps: FastifyInstance[]
  handlers: Handlers
  /** Cluster mode: the cluster registry and its key prefix, to wait for the callee's registrations. */
  redis?: { client: Redis, prefix: string }
  /** Subprotocols of the caller and the callee (default wamp.2.json for both). */
  protocols?: [string, string]
}

async function registrations (setup: Setup, n: number): Promise<void> {
  if (setup.redis === undefined) return
  const { client, prefix } = setup.redis
  for (const uri of ['p.plain', 'p.stream']) {
    await eventually(async () => (await client.hlen(`${prefix}rpc:reg:realm1:${uri}`)) === n, 3000, `${n} registrations of ${uri}`)
  }
}

async function run (setup: Setup, ops: Op[], end: End): Promise<void> {
  const clients: RawClient[] = []
  try {
    await scenarioRun(setup, ops, end, clients)
  } finally {
    // A failed run must not leave its sessions behind for the next (shrinking) run to trip over.
    await Promise.all(clients.map((c) => c.terminate()))
  }
}

async function scenarioRun (setup: Setup, ops: Op[], end: End, clients: RawClient[]): Promise<void> {
  const { client: caller } = await connectRaw(setup.callerUrl, { details: STREAMING_HELLO_DETAILS, protocols: [setup.protocols?.[0] ?? 'wamp.2.json'] })
  clients.push(caller)
  let callee: Callee | undefined
  if (setup.mode !== 'local') {
    const { client } = await connectRaw(setup.calleeUrl, { details: CALLEE_DETAILS, protocols: [setup.protocols?.[1] ?? 'wamp.2.json'] })
    clients.push(client)
    client.send([MSG.REGISTER, 1, {}, 'p.plain'])
    client.send([MSG.REGISTER, 2, {}, 'p.stream'])
    await client.next()
    await client.next()
    callee = new Callee(client)
    await registrations(setup, 1)
  }
  const calls: Array<{ id: number, uri: string, streaming: boolean }> = []
  let nextId = 1
  for (const op of ops) {
    callee?.read()
    const call = calls.length === 0 ? undefined : calls[((op as { call?: number }).call ?? 0) % calls.length]
    switch (op.op) {
      case 'start': {
        const id = nextId++
        const uri = op.streamed ? 'p.stream' : 'p.plain'
        const options: Dict = {}
        if (op.streamed) options.progress = true
        if (op.timeout > 0) options.timeout = op.timeout
        if (op.progress) options.receive_progress = true
        caller.send([MSG.CALL, id, options, uri, [id, 'data']])
        calls.push({ id, uri, streaming: op.streamed })
        break
      }
      case 'chunk':
        if (call === undefined || !call.streaming) break
        caller.send([MSG.CALL, call.id, op.last ? {} : { progress: true }, call.uri, [call.id, op.last ? 'end' : 'data']])
        if (op.last) call.streaming = false
        break
      case 'answer':
        if (call === undefined) break
        if (callee === undefined) setup.handlers.answer(call.id, op.ok)
        else callee.answer(call.id, op.ok)
        break
      case 'cancel':
        if (call !== undefined) caller.send([MSG.CANCEL, call.id, { mode: op.mode }])
        break
      case 'sleep':
        await sleep(op.ms)
    }
  }
  if (end === 'settle') {
    for (const call of calls) if (call.streaming) caller.send([MSG.CALL, call.id, {}, call.uri, [call.id, 'end']])
    const done = (): boolean => {
      callee?.answerAll()
      for (const call of calls) setup.handlers.answer(call.id, true)
      const terminals = checkHistory(caller.history)
      return calls.every((c) => terminals.has(c.id))
    }
    await until(done, 5000, 'every call to end')
    await sleep(20)
    checkHistory(caller.history)
    const sessions = setup.apps.flatMap((app) => [...app.wamp.sessions.values()])
    await until(() => tablesEmpty(sessions) === undefined, 2000, `in-flight tables to empty (${tablesEmpty(sessions) ?? ''})`)
  } else if (end === 'callerLeaves' || end === 'calleeLeaves') {
    await (end === 'callerLeaves' ? caller : (callee as Callee).client).terminate()
    if (end === 'calleeLeaves') {
      for (const call of calls) if (call.streaming) caller.send([MSG.CALL, call.id, {}, call.uri, [call.id, 'end']])
      await until(() => calls.every((c) => checkHistory(caller.history).has(c.id)), 5000, 'every caller to hear that the callee left')
    }
    await sleep(10)
    callee?.answerAll()
    for (const call of calls) setup.handlers.answer(call.id, true)
    await sleep(20)
    checkHistory(caller.history)
  } else {
    const closing = setup.apps.map((app) => app.close())
    await until(() => caller.history.some((m) => m[0] === MSG.GOODBYE) || caller.closeInfo !== null, 3000, 'GOODBYE')
    callee?.answerAll()
    for (const call of calls) setup.handlers.answer(call.id, true)
    caller.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
    callee?.client.send([MSG.GOODBYE, {}, 'wamp.close.goodbye_and_out'])
    await Promise.all(closing)
    checkHistory(caller.history)
  }
  await caller.close()
  await callee?.client.close()
  if (end !== 'shutdown') await registrations(setup, 0)
  const sessions = setup.apps.flatMap((app) => [...app.wamp.sessions.values()])
  await until(() => sessions.every((s) => !s.isOpen), 2000, 'sessions to close')
  const left = tablesEmpty(sessions)
  if (left !== undefined) throw new Error(`left in flight after the sessions closed: ${left}`)
}

const scenario = fc.tuple(fc.array(opArb, { minLength: 1, maxLength: 25 }), fc.constantFrom<End>('settle', 'settle', 'callerLeaves', 'calleeLeaves'))
const shutdownScenario = fc.array(opArb, { minLength: 1, maxLength: 15 })
const APP = { shutdownGrace: 200, streamGrace: 200 }

t.test('exactly once, app procedures: random chunks, cancels, timeouts, answers and departures', async (t) => {
  const handlers = new Handlers()
  const { app, url } = await startApp(t, APP, (app) => handlers.install(app))
  await fc.assert(fc.asyncProperty(scenario, async ([ops, end]) => {
    await run({ mode: 'local', callerUrl: url, calleeUrl: url, apps: [app], handlers }, ops, end === 'calleeLeaves' ? 'settle' : end)
  }), { numRuns: 40 })
})

t.test('exactly once, router mode: a client callee answers, errs, is interrupted or leaves', async (t) => {
  const handlers = new Handlers()
  const { app, url } = await startApp(t, { ...APP, realms: [{ name: 'realm1', router: true }] })
  await fc.assert(fc.asyncProperty(scenario, async ([ops, end]) => {
    await run({ mode: 'router', callerUrl: url, calleeUrl: url, apps: [app], handlers }, ops, end)
  }), { numRuns: 40 })
})

t.test('issue 23: exactly once, router mode over the batched subprotocols', async (t) => {
  const handlers = new Handlers()
  const { app, url } = await startApp(t, { ...APP, realms: [{ name: 'realm1', router: true }] })
  await fc.assert(fc.asyncProperty(scenario, async ([ops, end]) => {
    await run({ mode: 'router', callerUrl: url, calleeUrl: url, apps: [app], handlers, protocols: ['wamp.2.json.batched', 'wamp.2.msgpack.batched'] }, ops, end)
  }), { numRuns: 20 })
})

t.test('exactly once, across two instances through Redis', async (t) => {
  const handlers = new Handlers()
  const { apps, prefix } = await rpcCluster(t, 2, { ...APP, realms: [{ name: 'realm1', router: true }] })
  const redis = { client: inspector(t), prefix }
  await fc.assert(fc.asyncProperty(scenario, async ([ops, end]) => {
    await run({ mode: 'cluster', callerUrl: apps[0].url, calleeUrl: apps[1].url, apps: [apps[0].app, apps[1].app], handlers, redis }, ops, end)
  }), { numRuns: 15 })
})

t.test('exactly once through shutdown: nothing after GOODBYE, nothing left in flight', async (t) => {
  await fc.assert(fc.asyncProperty(shutdownScenario, fc.boolean(), async (ops, router) => {
    const handlers = new Handlers()
    const { app, url } = await startApp({ teardown: () => {} }, router ? { ...APP, realms: [{ name: 'realm1', router: true }] } : APP,
      (app) => { if (!router) handlers.install(app) })
    await run({ mode: router ? 'router' : 'local', callerUrl: url, calleeUrl: url, apps: [app], handlers }, ops, 'shutdown')
  }), { numRuns: 12 })
  t.pass()
})
