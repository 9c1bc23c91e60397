import type { Session } from './session.js'

/**
 * WebSocket keepalive for every socket of the plugin with one shared interval timer (the ws "heartbeat" pattern):
 * each round terminates the sockets that did not answer the previous round's ping, and pings the others. A peer
 * that stopped answering is gone after one to two intervals; its session cleans up on close like any other.
 * The timer runs only while there are sockets, so it never outlives the last one.
 */
export class Keepalive {
  private readonly sessions: ReadonlySet<Session>
  private readonly interval: number
  private timer: NodeJS.Timeout | undefined

  constructor (sessions: ReadonlySet<Session>, interval: number) {
    this.sessions = sessions
    this.interval = interval
    this.timer = undefined
  }

  /** Call after a socket was added: starts the timer with the first one. */
  added (): void {
    if (this.timer !== undefined || this.interval === 0) return
    // Not unref'd: it only runs while sockets (which keep the process alive anyway) exist.
    this.timer = setInterval(round, this.interval, this)
  }

  /** Call after a socket was removed: stops the timer with the last one. */
  removed (): void {
    if (this.sessions.size === 0) this.stop()
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  round (): void {
    for (const session of this.sessions) {
      if (session.transport.ping()) continue
      session.log.info({ pingInterval: this.interval }, 'fastify-wamp: closing a session whose peer did not answer the keepalive ping')
      session.transport.terminate()
    }
  }
}

function round (keepalive: Keepalive): void {
  keepalive.round()
}
