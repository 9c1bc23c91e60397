import WebSocket from 'ws'
import type { RawData } from 'ws'
import { isDict, MessageType as T } from '../wire/messages.js'
import type { Details, Kwargs, WampMessage } from '../wire/messages.js'
import type { Serializer } from '../wire/serializers/index.js'
import { CloseUri, ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { isThenable } from '../thenable.js'
import type { ChallengeHandler, CloseInfo } from './types.js'

// The test client's wire: one socket, frames encoded and decoded, the handshake, every reply matched to its request
// by id, and the closing handshake. Anything the server sends that was not asked for ends the session with ABORT
// protocol_violation, so a test sees server bugs instead of hanging. EVENT, INVOCATION and INTERRUPT go to the
// client it serves (`Inbound`, lib/testing/client.ts).

type OnProgress = (result: { args: unknown[], kwargs: Kwargs }) => void

interface Pending {
  readonly type: number
  readonly what: string
  readonly resolve: (msg: WampMessage) => void
  readonly reject: (err: unknown) => void
  readonly timer: NodeJS.Timeout
  readonly onProgress: OnProgress | undefined
}

// Request message type → its success reply.
const REPLY: Record<number, number> = {
  [T.CALL]: T.RESULT,
  [T.SUBSCRIBE]: T.SUBSCRIBED,
  [T.UNSUBSCRIBE]: T.UNSUBSCRIBED,
  [T.PUBLISH]: T.PUBLISHED,
  [T.REGISTER]: T.REGISTERED,
  [T.UNREGISTER]: T.UNREGISTERED
}

/** What the connection hands to the client it serves: WELCOME, the messages that are not replies, the close. */
export interface Inbound {
  welcomed (id: number, details: Details): void
  /** Returns what was wrong with the message, if anything. */
  event (msg: WampMessage): string | undefined
  invocation (msg: WampMessage): string | undefined
  interrupt (requestId: number): void
  /** The socket closed: whatever still waits fails with `err`. */
  disconnected (err: Error): void
}

export class Connection {
  /** Resolves when the socket has closed. */
  readonly closed: Promise<CloseInfo>
  private readonly ws: WebSocket
  private readonly serializer: Serializer
  private readonly replyTimeout: number
  /** The client's `errors`: what went wrong on the wire lands there too. */
  private readonly errors: unknown[]
  private readonly inbound: Inbound
  private nextId: number
  private welcomed: boolean
  private closeReason: string | undefined
  private goodbyeSent: boolean
  private readonly pending: Map<number, Pending>
  private onWelcome: ((msg: WampMessage) => void) | undefined

  constructor (ws: WebSocket, serializer: Serializer, replyTimeout: number, errors: unknown[], inbound: Inbound) {
    this.ws = ws
    this.serializer = serializer
    this.replyTimeout = replyTimeout
    this.errors = errors
    this.inbound = inbound
    this.nextId = 1
    this.welcomed = false
    this.closeReason = undefined
    this.goodbyeSent = false
    this.pending = new Map()
    this.onWelcome = undefined
    this.closed = new Promise((resolve) => {
      ws.on('close', (code) => {
        this.teardown(new Error(`WAMP connection closed (${code}${this.closeReason === undefined ? '' : ` ${this.closeReason}`})`))
        resolve({ code, reason: this.closeReason })
      })
    })
    ws.on('message', (data: RawData, isBinary: boolean) => this.receive(data as Buffer, isBinary))
    ws.on('error', (err) => this.errors.push(err))
  }

  get isOpen (): boolean {
    return this.ws.readyState === WebSocket.OPEN && this.welcomed && !this.goodbyeSent && this.closeReason === undefined
  }

  /** Sends HELLO and resolves on WELCOME; rejects with WampError on ABORT. */
  handshake (realm: string, details: Details, onChallenge: ChallengeHandler | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (err: unknown): void => { this.onWelcome = undefined; reject(err) }
      this.closed.then((info) => fail(new Error(`WAMP connection closed during the handshake (${info.code} ${info.reason ?? ''})`)), fail)
      this.onWelcome = (msg) => {
        const type = msg[0]
        if (type === T.WELCOME) {
          this.onWelcome = undefined
          this.welcomed = true
          this.inbound.welcomed(msg[1] as number, msg[2] as Details)
          return resolve()
        }
        if (type === T.ABORT) {
          const info = msg[1] as Details
          this.closeReason = msg[2] as string
          this.ws.close()
          return fail(new WampError(msg[2] as string, typeof info.message === 'string' ? [info.message] : [], info))
        }
        if (type === T.CHALLENGE && onChallenge !== undefined) {
          Promise.resolve(onChallenge(msg[1] as string, msg[2] as Details)).then(
            (signature) => this.send([T.AUTHENTICATE, signature, {}]),
            (err: unknown) => { this.abort(ErrorUri.authenticationFailed, String(err)); fail(err) })
          return
        }
        this.abort(ErrorUri.protocolViolation, `unexpected message type ${String(type)} during the handshake`)
        fail(new Error(`unexpected message during the handshake: ${JSON.stringify(msg)}`))
      }
      this.send([T.HELLO, realm, details])
    })
  }

  /** GOODBYE, then waits for the server's GOODBYE and the socket close (terminates after the reply timeout). */
  async close (reason: string): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN && !this.goodbyeSent && this.closeReason === undefined) {
      this.goodbyeSent = true
      this.send([T.GOODBYE, {}, reason])
      const timer = setTimeout(() => this.ws.terminate(), this.replyTimeout)
      const info = await this.closed
      clearTimeout(timer)
      return info
    }
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close()
    return await this.closed
  }

  requestId (): number {
    return this.nextId++
  }

  send (msg: WampMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(this.serializer.encode(msg))
  }

  /** Sends a request; resolves with its reply, rejects with WampError on ERROR or after the reply timeout. */
  request (type: number, what: string, msg: WampMessage, onProgress?: OnProgress): Promise<WampMessage> {
    if (!this.isOpen) return Promise.reject(new Error(`cannot send ${what}: the WAMP session is closed`))
    const id = msg[1] as number
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`no reply to ${what} within ${this.replyTimeout} ms`))
      }, this.replyTimeout)
      this.pending.set(id, { type, what, resolve, reject, timer, onProgress })
      this.send(msg)
    })
  }

  private receive (data: Buffer, isBinary: boolean): void {
    let msg: unknown
    try {
      if (isBinary !== this.serializer.binary) throw new Error('wrong frame type')
      msg = this.serializer.decode(data)
    } catch (err) {
      return this.abort(ErrorUri.protocolViolation, `undecodable frame: ${(err as Error).message}`)
    }
    if (!Array.isArray(msg) || typeof msg[0] !== 'number') return this.abort(ErrorUri.protocolViolation, 'a WAMP message must be a list')
    if (this.onWelcome !== undefined) return this.onWelcome(msg)
    const problem = this.dispatch(msg)
    if (problem !== undefined) this.abort(ErrorUri.protocolViolation, `${problem}: ${JSON.stringify(msg)}`)
  }

  /** Returns what was wrong with the message, if anything. */
  private dispatch (msg: WampMessage): string | undefined {
    switch (msg[0]) {
      case T.RESULT: case T.SUBSCRIBED: case T.UNSUBSCRIBED: case T.PUBLISHED: case T.REGISTERED: case T.UNREGISTERED:
        return this.reply(msg)
      case T.ERROR: return this.reply(msg)
      case T.EVENT: return this.inbound.event(msg)
      case T.INVOCATION: return this.inbound.invocation(msg)
      case T.INTERRUPT:
        this.inbound.interrupt(msg[1] as number)
        return undefined
      case T.GOODBYE:
        this.closeReason = msg[2] as string
        if (!this.goodbyeSent) this.send([T.GOODBYE, {}, CloseUri.goodbyeAndOut])
        this.ws.close(1000)
        return undefined
      case T.ABORT:
        this.closeReason = msg[2] as string
        this.ws.close()
        return undefined
      default: return `unexpected message type ${String(msg[0])}`
    }
  }

  private reply (msg: WampMessage): string | undefined {
    const isError = msg[0] === T.ERROR
    // UNSUBSCRIBED/UNREGISTERED with request 0 is a revocation by the router.
    if (!isError && (msg[0] === T.UNSUBSCRIBED || msg[0] === T.UNREGISTERED) && msg[1] === 0) return undefined
    const id = (isError ? msg[2] : msg[1]) as number
    const pending = this.pending.get(id)
    const expected = pending === undefined ? undefined : isError ? pending.type : REPLY[pending.type]
    if (pending === undefined || (isError ? msg[1] : msg[0]) !== expected) return `reply for no request ${id} in flight`
    if (msg[0] === T.RESULT && isDict(msg[2]) && msg[2].progress === true) {
      if (pending.onProgress === undefined) return 'progressive RESULT without receive_progress'
      guard(this.errors, () => pending.onProgress?.({ args: (msg[3] ?? []) as unknown[], kwargs: (msg[4] ?? {}) as Kwargs }))
      return undefined
    }
    this.pending.delete(id)
    clearTimeout(pending.timer)
    if (isError) pending.reject(new WampError(msg[4] as string, (msg[5] ?? []) as unknown[], (msg[6] ?? {}) as Kwargs))
    else pending.resolve(msg)
    return undefined
  }

  private abort (uri: string, message: string): void {
    this.errors.push(new Error(`${uri}: ${message}`))
    this.closeReason = uri
    this.send([T.ABORT, { message }, uri])
    this.ws.close(1002)
  }

  private teardown (err: Error): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer)
      pending.reject(err)
    }
    this.pending.clear()
    this.inbound.disconnected(err)
  }
}

/** Runs a test's handler: what it throws or rejects with lands in `errors`, never in the socket's listener. */
export function guard (errors: unknown[], fn: () => unknown): void {
  try {
    const result = fn()
    if (isThenable(result)) result.then(undefined, (err: unknown) => errors.push(err))
  } catch (err) {
    errors.push(err)
  }
}
