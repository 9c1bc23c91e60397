import { ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import type { RegistrationInfo, WaitOptions } from '../../types/session.js'

interface Waiter {
  readonly uri: string
  readonly resolve: (registration: RegistrationInfo) => void
  readonly reject: (err: WampError) => void
  readonly timer: NodeJS.Timeout | undefined
  readonly signal: AbortSignal | undefined
  readonly onAbort: () => void
}

/**
 * `session.registered(uri)`: promises waiting for a client's REGISTER of `uri`. A client registers its procedures
 * only after WELCOME, so `onSessionOpen` cannot call it at once; it waits here instead.
 */
export class RegistrationWaiters {
  private readonly waiting: Set<Waiter>

  constructor () {
    this.waiting = new Set()
  }

  wait (uri: string, options: WaitOptions): Promise<RegistrationInfo> {
    const { timeout, signal } = options
    if (signal?.aborted === true) return Promise.reject(new WampError(ErrorUri.canceled, ['wait canceled']))
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        uri,
        resolve,
        reject,
        timer: timeout !== undefined && timeout > 0
          ? setTimeout(() => this.end(waiter, new WampError(ErrorUri.timeout, [`"${uri}" was not registered within ${timeout} ms`])), timeout)
          : undefined,
        signal,
        onAbort: () => { this.end(waiter, new WampError(ErrorUri.canceled, ['wait canceled'])) }
      }
      signal?.addEventListener('abort', waiter.onAbort)
      this.waiting.add(waiter)
    })
  }

  registered (registration: RegistrationInfo): void {
    if (registration.match !== 'exact') return
    for (const waiter of this.waiting) {
      if (waiter.uri !== registration.uri) continue
      this.remove(waiter)
      waiter.resolve(registration)
    }
  }

  /** The session ended: every wait fails. */
  closed (): void {
    for (const waiter of this.waiting) this.end(waiter, new WampError(ErrorUri.canceled, ['the session is closed']))
  }

  private end (waiter: Waiter, err: WampError): void {
    if (!this.waiting.has(waiter)) return
    this.remove(waiter)
    waiter.reject(err)
  }

  private remove (waiter: Waiter): void {
    this.waiting.delete(waiter)
    if (waiter.timer !== undefined) clearTimeout(waiter.timer)
    waiter.signal?.removeEventListener('abort', waiter.onAbort)
  }
}
