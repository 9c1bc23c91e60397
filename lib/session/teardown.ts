import { EMPTY, MessageType as T } from '../wire/messages.js'
import { CloseUri } from '../wire/uris.js'
import { CloseCode } from '../wire/transport.js'
import { State } from './state.js'
import type { Session } from './session.js'

// How a session ends, whichever side ends it: GOODBYE from the server (`close`), a drain before shutdown, the WAMP
// session ending while its socket stays (`reestablish`, PROTOCOL §7.8), and the socket's cleanup, exactly once.

const CLOSE_GOING_AWAY: number = CloseCode.goingAway

/**
 * Ends the session from the server side with GOODBYE. Resolves once the socket is closed: after the peer's
 * GOODBYE, or after `grace` ms at the latest.
 */
export function closeSession (session: Session, reason: string, message: string | undefined, grace: number): Promise<void> {
  if (session.state === State.closed) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(forceClose, grace, session)
    const previous = session.onClosed
    session.onClosed = () => {
      clearTimeout(timer)
      previous?.()
      resolve()
    }
    if (session.state === State.open) {
      session.state = State.closing
      // As for ABORT (Session.abort): a message the peer cannot take leaves the reason alone.
      if (!session.send([T.GOODBYE, message === undefined ? EMPTY : { message }, reason]) && message !== undefined) session.send([T.GOODBYE, EMPTY, reason])
      // Calls still running are abandoned (their signals fire) and the session leaves its realm now.
      endSession(session)
    } else if (session.state === State.establishing) {
      // Still authenticating: ABORT says why (PROTOCOL §7.6). Before HELLO there is nothing to answer.
      if (session.handshake !== undefined) session.abort(reason, message ?? (reason === CloseUri.systemShutdown ? 'the server is shutting down' : 'closed by the server'), CLOSE_GOING_AWAY)
      else session.closeSocket(CLOSE_GOING_AWAY)
    }
  })
}

/** A close whose grace ran out: the connection is cut. */
function forceClose (session: Session): void {
  if (session.state !== State.closed) session.transport.terminate()
}

/**
 * First step of a graceful shutdown: new CALLs are refused with `wamp.error.canceled`, and the promise resolves
 * once the calls in flight have sent their results — or after `ms`, or when the session ends.
 */
export function drainSession (session: Session, ms: number): Promise<void> {
  session.draining = true
  if (session.calls.size === 0 || session.state !== State.open) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(drained, ms, session)
    session.onDrained = () => {
      clearTimeout(timer)
      resolve()
    }
  })
}

/** The last call in flight has settled (or the session ended) while draining. */
export function drained (session: Session): void {
  const onDrained = session.onDrained
  session.onDrained = undefined
  onDrained?.()
}

/**
 * The WAMP session ends (GOODBYE either way, or the socket closed): its calls in both directions settle, it
 * leaves its realm and `onSessionClose` runs. Once per WAMP session; the socket may carry another (§7.8).
 */
export function endSession (session: Session): void {
  for (const call of session.calls.values()) call.abandon()
  for (const call of session.invocations.values()) call.abandon('session closed')
  for (const call of session.routed.values()) call.calleeLeft()
  session.streams.clear()
  session.waiters?.closed()
  session.waiters = undefined
  const realm = session.joined
  if (realm === undefined || session.id === 0) return
  realm.leave(session)
  session.hub.sessionLeft(session)
  session.joined = undefined
}

/**
 * After the client's GOODBYE: the WAMP session ends, and a new Session waits for HELLO on the same socket. A new
 * object rather than this one reset: a handle the application still holds (a handler that awaited, a Map) stays
 * closed, with its own identity, and reaches nothing of the next session — which may be another principal's.
 */
export function reestablish (session: Session): void {
  // Closed first: what ending its calls would still send (an INTERRUPT…) is not for the peer any more.
  session.state = State.closed
  endSession(session)
  drained(session)
  session.successor = session.hub.succeed(session)
}

/** Runs exactly once, when the socket has closed (cleanly or not). */
export function cleanupSession (session: Session): void {
  if (session.state === State.closed) return
  session.state = State.closed
  if (session.helloTimer !== undefined) clearTimeout(session.helloTimer)
  endSession(session)
  session.hub.socketClosed(session)
  drained(session)
  session.onClosed?.()
}
