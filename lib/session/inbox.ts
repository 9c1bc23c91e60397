import { isUtf8 } from 'node:buffer'
import { checkClientMessage, EMPTY, MessageType as T } from '../wire/messages.js'
import type { WampMessage } from '../wire/messages.js'
import { CloseUri, ErrorUri, isValidUri } from '../wire/uris.js'
import { carriedBigInt, notUtf8, plainDataProblem, replacementChars } from '../wire/serializers/plain-data.js'
import { batchProblem, eachInBatch } from '../wire/batch.js'
import { cborSerializer, describeError, msgpackSerializer } from '../wire/serializers/index.js'
import { State } from './state.js'
import { hello } from './handshake.js'
import { authenticate } from './auth/index.js'
import type { Session } from './session.js'
import { reestablish } from './teardown.js'

// What the session actor does with a frame: check and decode it, then one switch by state and message type to the
// handshake, the dealer or the broker — or hold it, in order, while an async check decides about an earlier one.

const CLOSE_NORMAL = 1000
const CLOSE_GOING_AWAY = 1001

/** One WAMP message, encoded: decoded and dispatched, or held while the session is held. */
export function handle (session: Session, data: Buffer, isBinary: boolean): void {
  if (session.state === State.closed) {
    // Frames read together with the client's GOODBYE (one batch, frames held) are the next session's.
    if (session.successor !== undefined) handle(session.successor, data, isBinary)
    return
  }
  if (session.held !== undefined) {
    session.held.push(data, isBinary)
    return
  }
  const msg = decodeFrame(session, data, isBinary)
  if (msg === undefined) return
  try {
    dispatch(session, msg)
  } catch (err) {
    // A fault of ours, not the peer's: log it, tell the client it was a server-side failure, end the session.
    session.log.error({ err }, 'fastify-wamp: message handling failed')
    session.abort(ErrorUri.runtimeError, 'internal server error')
  }
}

/**
 * Stops handling the session's frames until `release()`: an async check (authorization) is deciding about the
 * current message, and the ones after it must keep their order. The socket is paused meanwhile, so the frames
 * held are only those already read.
 */
export function hold (session: Session): void {
  if (session.held !== undefined) return
  session.held = []
  session.transport.pause()
}

/** Handles the messages held since `hold()`, in order (a message may hold the session again: the rest wait). */
export function release (session: Session): void {
  const held = session.held
  if (held === undefined) return
  session.held = undefined
  if (session.state !== State.closed) session.transport.resume()
  for (let i = 0; i < held.length; i += 2) {
    if (session.held !== undefined) {
      for (let j = i; j < held.length; j++) (session.held as Array<Buffer | boolean>).push(held[j])
      return
    }
    handle(session, held[i] as Buffer, held[i + 1] as boolean)
  }
}

/**
 * A transport message of a batched subprotocol: its WAMP messages handled one by one, until one ends the session
 * (ABORT protocol_violation for a wrong frame type or broken framing first). A JSON batch's separator is answered in
 * kind.
 */
export function receiveBatch (session: Session, data: Buffer, isBinary: boolean): void {
  if (isBinary !== session.transport.serializer.binary) {
    return session.violation(`${isBinary ? 'binary' : 'text'} frame received on ${session.protocol}`)
  }
  const problem = batchProblem(data, isBinary)
  if (problem !== undefined) return session.violation(problem)
  if (!isBinary) session.transport.separator = data[data.length - 1]
  eachInBatch(data, isBinary, (message) => {
    // A violation (or a fault of ours) has closed the transport: the rest of the batch is moot.
    if (!session.transport.open) return false
    handle(session, message, isBinary)
    return true
  })
}

/**
 * A frame → a well-formed client message, or undefined after ABORT protocol_violation saying what was wrong: frame
 * type, decoding, plain WAMP data (PROTOCOL §7.1), message shape.
 */
export function decodeFrame (session: Session, data: Buffer, isBinary: boolean): WampMessage | undefined {
  if (isBinary !== session.transport.serializer.binary) {
    session.violation(`${isBinary ? 'binary' : 'text'} frame received on ${session.protocol}`)
    return undefined
  }
  // Bytes that are not UTF-8 would decode as U+FFFD: the message would go on altered.
  if (!isBinary && !session.transport.textChecked && !isUtf8(data)) {
    session.violation('text frame is not UTF-8')
    return undefined
  }
  let msg: unknown
  let problem: string | undefined
  try {
    msg = session.transport.serializer.decode(data)
    problem = plainDataProblem(msg, data.length, session.hub.options.maxDepth, utf8Strings(session))
  } catch (err) {
    session.violation(`frame could not be decoded as ${session.protocol}: ${describeError(err)}`)
    return undefined
  }
  if (problem === undefined && replacementChars() > 0 && notUtf8(data)) problem = NOT_UTF8
  if (problem !== undefined) {
    session.violation(`frame is not plain WAMP data: ${problem}`)
    return undefined
  }
  problem = checkClientMessage(msg)
  if (problem !== undefined) {
    session.violation(problem)
    return undefined
  }
  session.portable = !carriedBigInt()
  session.frameBytes = data.length
  return msg as WampMessage
}

const NOT_UTF8 = 'a string is not UTF-8'

/** msgpack and CBOR strings are UTF-8 bytes, which their decoders read as U+FFFD where they are not. */
function utf8Strings (session: Session): boolean {
  const serializer = session.transport.serializer
  return serializer === msgpackSerializer || serializer === cborSerializer
}

/** The one dispatch switch: a decoded, well-formed client message, by session state and message type. */
export function dispatch (session: Session, msg: WampMessage): void {
  const type = msg[0] as number
  if (type === T.ABORT) return session.closeSocket(CLOSE_NORMAL)
  if (session.state === State.establishing) {
    if (type === T.HELLO && session.joined === undefined && session.handshake === undefined) return hello(session, msg)
    if (type === T.AUTHENTICATE) return authenticate(session, msg)
    return session.violation(`expected ${session.handshake === undefined ? 'HELLO' : 'AUTHENTICATE'}, received message type ${type}`)
  }
  if (session.state === State.closing) {
    // We said GOODBYE first: only the peer's GOODBYE matters now; everything else is moot.
    if (type === T.GOODBYE) session.closeSocket(CLOSE_GOING_AWAY)
    return
  }
  const realm = session.realm
  switch (type) {
    case T.CALL: return realm.dealer.call(session, msg)
    case T.YIELD: return realm.dealer.yield(session, msg)
    case T.CANCEL: return realm.dealer.cancel(session, msg)
    case T.ERROR:
      if (msg[1] !== T.INVOCATION) return session.violation('ERROR may only answer an INVOCATION')
      return realm.dealer.error(session, msg)
    case T.REGISTER: return realm.dealer.register(session, msg)
    case T.UNREGISTER: return realm.dealer.unregister(session, msg)
    case T.PUBLISH: return realm.broker.publishFrom(session, msg)
    case T.SUBSCRIBE: return realm.broker.subscribe(session, msg)
    case T.UNSUBSCRIBE: return realm.broker.unsubscribe(session, msg)
    case T.GOODBYE:
      if (!isValidUri(msg[2])) return session.violation('GOODBYE.Reason must be a valid URI')
      // The WAMP session ends, the socket stays: the client may say HELLO again (PROTOCOL §7.8).
      session.send([T.GOODBYE, EMPTY, CloseUri.goodbyeAndOut])
      return reestablish(session)
    case T.HELLO: return session.violation('HELLO received on an established session')
    default: return session.violation(`message type ${type} is not allowed on an established session`)
  }
}
