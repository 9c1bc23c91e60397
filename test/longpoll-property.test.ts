import t from 'tap'
import fc from 'fast-check'
import { startApp, until, hubOf } from './helpers/app.js'
import { MSG } from './helpers/raw-client.js'
import { close, HELLO_ROLES, open, post, receiveMessages, send } from './helpers/longpoll-client.js'
import type { LongPoll } from './helpers/longpoll-client.js'
import { decode } from './helpers/longpoll-client.js'

// Issue 16's exactly-once rule over long-poll (issue 23): whatever the order of calls, answers, cancels, pauses in
// polling and the way the transport ends (the calls settle, the client closes, the client stops polling and the
// transport expires, or the client says GOODBYE), every CALL gets at most one terminal message and nothing after
// it — exactly one when the session outlives it — each abandoned handler's signal fires once, and nothing is left
// in flight. The waits are upper bounds for a loaded machine; idleTimeout is long enough that a busy poller is not
// taken for a gone one.

type End = 'settle' | 'close' | 'expire' | 'goodbye'
type Op =
  | { op: 'start' }
  | { op: 'answer', call: number, ok: boolean }
  | { op: 'cancel', call: number }
  | { op: 'pause' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constant({ op: 'start' as const }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('answer' as const), call: fc.nat(5), ok: fc.boolean() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('cancel' as const), call: fc.nat(5) }), weight: 1 },
  { arbitrary: fc.constant({ op: 'pause' as const }), weight: 1 }
)

/** Polls in the background, sequentially, until the transport is gone; keeps every message in arrival order. */
class Poller {
  readonly messages: unknown[][] = []
  paused = false
  gone = false
  private readonly done: Promise<void>

  constructor (readonly lp: LongPoll) {
    this.done = this.loop()
  }

  private async loop (): Promise<void> {
    while (!this.gone) {
      if (this.paused) {
        await new Promise((resolve) => setTimeout(resolve, 5))
        continue
      }
      const res = await post(`${this.lp.base}/${this.lp.transport}/receive`)
      if (res.status === 200) this.messages.push(...decode(this.lp, res.body))
      else if (res.status !== 204) this.gone = true
    }
  }

  stop (): Promise<void> {
    this.gone = true
    return this.done
  }
}

t.test('exactly once over long-poll: every CALL ends at most once, whatever ends the transport', async (t) => {
  const waiting = new Map<number, { resolve: (v: unknown) => void, reject: (e: unknown) => void }>()
  let aborts = 0
  const { app, port } = await startApp(t, { longPoll: { path: '/lp', pollTimeout: 50, idleTimeout: 1500 }, closeTimeout: 100 }, (app) => {
    app.wamp.register('p', (args, _k, ctx) => new Promise((resolve, reject) => {
      waiting.set(args[0] as number, { resolve, reject })
      ctx.signal.addEventListener('abort', () => { aborts++; reject(ctx.signal.reason) })
    }))
  })
  const base = `http://127.0.0.1:${port}/lp`
  const hub = hubOf(app)

  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 14 }), fc.constantFrom<End>('settle', 'close', 'expire', 'goodbye'), fc.boolean(),
    async (ops, end, batched) => {
      waiting.clear()
      aborts = 0
      const lp = await open(base, [batched ? 'wamp.2.json.batched' : 'wamp.2.json'])
      await send(lp, [MSG.HELLO, 'realm1', { roles: HELLO_ROLES }])
      const [welcome] = await receiveMessages(lp, 1)
      if (welcome[0] !== MSG.WELCOME) throw new Error('no WELCOME')
      const poller = new Poller(lp)
      let started = 0
      for (const op of ops) {
        if (op.op === 'start') {
          started++
          await send(lp, [MSG.CALL, started, {}, 'p', [started]])
        } else if (op.op === 'answer') {
          const call = waiting.get(op.call + 1)
          if (op.ok) call?.resolve(op.call)
          else call?.reject(new Error('no'))
        } else if (op.op === 'cancel') {
          if (op.call + 1 <= started) await send(lp, [MSG.CANCEL, op.call + 1, { mode: 'kill' }])
        } else {
          poller.paused = !poller.paused
        }
      }
      await until(() => waiting.size === started, 10_000, 'every call to reach its handler')
      poller.paused = false
      let endedEarly = false
      if (end === 'settle') {
        for (const call of waiting.values()) call.resolve('late')
        await until(() => app.wamp.stats().callsInFlight === 0, 10_000, 'every call to settle')
        const isTerminal = (m: unknown[]): boolean => m[0] === MSG.RESULT || (m[0] === MSG.ERROR && m[1] === MSG.CALL)
        await until(() => poller.messages.filter(isTerminal).length >= started, 10_000, 'every answer to be received')
        await close(lp)
      } else if (end === 'close') {
        await close(lp)
        endedEarly = true
      } else if (end === 'expire') {
        await poller.stop()
        endedEarly = true
      } else {
        await send(lp, [MSG.GOODBYE, {}, 'wamp.close.close_realm'])
        await until(() => poller.messages.some((m) => m[0] === MSG.GOODBYE), 10_000, 'the GOODBYE reply')
        endedEarly = true
        await close(lp)
      }
      await until(() => hub.connections === 0, 10_000, 'the transport to end')
      await poller.stop()
      // Answers that come after the end go nowhere.
      for (const call of waiting.values()) call.resolve('after the end')

      const terminals = new Map<number, number>()
      for (const [i, m] of poller.messages.entries()) {
        const isTerminal = m[0] === MSG.RESULT || (m[0] === MSG.ERROR && m[1] === MSG.CALL)
        if (!isTerminal) continue
        const id = (m[0] === MSG.RESULT ? m[1] : m[2]) as number
        terminals.set(id, (terminals.get(id) ?? 0) + 1)
        if (poller.messages.slice(i + 1).some((n) => (n[0] === MSG.RESULT && n[1] === id) || (n[0] === MSG.ERROR && n[2] === id))) {
          throw new Error(`call ${id}: a message after its terminal one`)
        }
      }
      for (let id = 1; id <= started; id++) {
        const n = terminals.get(id) ?? 0
        if (n > 1) throw new Error(`call ${id}: ${n} terminal messages`)
        if (!endedEarly && n !== 1) throw new Error(`call ${id}: no terminal message though the session outlived it`)
      }
      if (app.wamp.stats().callsInFlight !== 0 || app.wamp.sessions.size !== 0) throw new Error('something left in flight')
      if (aborts > started) throw new Error(`${aborts} aborts for ${started} calls`)
    }), { numRuns: 25 })
  t.pass('25 random runs')
})

t.test('hostile send bodies over long-poll: any bytes, any Content-Type → 204 (or 413), then the session goes on or ABORTs', async (t) => {
  const { app, port } = await startApp(t, { maxPayload: 2048, closeTimeout: 100, longPoll: { path: '/lp', pollTimeout: 50, idleTimeout: 2000 } }, (app) => {
    app.wamp.register('ping', () => 'pong')
  })
  const base = `http://127.0.0.1:${port}/lp`
  const hub = hubOf(app)
  const bodyArb = fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
    fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
    fc.tuple(fc.constantFrom(1, 3, 6, 8, 16, 32, 48, 49, 64, 70), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 6 }))
      .map(([type, rest]) => Buffer.from(JSON.stringify([type, ...rest]))),
    fc.constant(Buffer.alloc(3000, 0x5b))
  )
  const typeArb = fc.constantFrom<string | undefined>(undefined, 'application/json; charset=utf-8', 'application/x-msgpack', 'text/plain', 'multipart/form-data; boundary=x')
  await fc.assert(fc.asyncProperty(bodyArb, typeArb, fc.boolean(), async (body, type, batched) => {
    const lp = await open(base, [batched ? 'wamp.2.json.batched' : 'wamp.2.json'])
    await send(lp, [MSG.HELLO, 'realm1', { roles: HELLO_ROLES }])
    await receiveMessages(lp, 1)
    const res = await fetch(`${lp.base}/${lp.transport}/send`, { method: 'POST', body, headers: type === undefined ? {} : { 'content-type': type } })
    await res.arrayBuffer()
    if (res.status !== 204 && res.status !== 413) throw new Error(`send answered ${res.status}`)
    // Whatever that did, a CALL after it gets its RESULT, or the session has been ABORTed with protocol_violation.
    const status = await send(lp, [MSG.CALL, 99, {}, 'ping'])
    if (status === 204) {
      for (;;) {
        const r = await post(`${lp.base}/${lp.transport}/receive`)
        if (r.status === 404) break
        if (r.status !== 200) continue
        const messages = decode(lp, r.body)
        const last = messages.find((m) => m[0] === MSG.ABORT || (m[0] === MSG.RESULT && m[1] === 99) || (m[0] === MSG.ERROR && m[2] === 99))
        if (last === undefined) continue
        if (last[0] === MSG.ABORT && last[2] !== 'wamp.error.protocol_violation') throw new Error(`ABORT ${String(last[2])}`)
        break
      }
    } else if (status !== 404) {
      throw new Error(`the CALL's send answered ${status}`)
    }
    await close(lp)
    await until(() => hub.connections === 0, 2000, 'the transport to end')
  }), { numRuns: 60 })
  t.pass('60 hostile bodies')
})
