import type { Session } from './session/session.js'
import type { PendingWork } from './pending-work.js'
import { isThenable } from './thenable.js'
import { traceClientEvent } from './diagnostics.js'
import type { RegistrationHook, RegistrationInfo, SessionHook, SubscriptionHook, SubscriptionInfo } from '../types/session.js'

// The application's session hooks (`onSessionOpen` … `onUnsubscribe`): run in order, sync or async, and never let a
// failure escape — a hook that throws or rejects is logged on the session's logger; shutdown waits for the async ones.

type ClientEvent = 'register' | 'unregister' | 'subscribe' | 'unsubscribe'
const EVENT_HOOK_NAMES: Record<ClientEvent, string> = { register: 'onRegister', unregister: 'onUnregister', subscribe: 'onSubscribe', unsubscribe: 'onUnsubscribe' }

export class Hooks {
  readonly open: SessionHook[]
  readonly close: SessionHook[]
  readonly events: { register: RegistrationHook[], unregister: RegistrationHook[], subscribe: SubscriptionHook[], unsubscribe: SubscriptionHook[] }
  private readonly pending: PendingWork

  constructor (open: SessionHook[], close: SessionHook[], pending: PendingWork) {
    this.open = [...open]
    this.close = [...close]
    this.events = { register: [], unregister: [], subscribe: [], unsubscribe: [] }
    this.pending = pending
  }

  /** `onSessionOpen`, after WELCOME. */
  opened (session: Session): void {
    this.runAll(this.open, session, 'onSessionOpen')
  }

  /** `onSessionClose`, once per WAMP session. */
  closed (session: Session): void {
    this.runAll(this.close, session, 'onSessionClose')
  }

  /** A client's registration or subscription began or ended: the `onRegister` … `onUnsubscribe` hooks run. */
  clientEvent (event: 'register' | 'unregister', session: Session, info: RegistrationInfo): void
  clientEvent (event: 'subscribe' | 'unsubscribe', session: Session, info: SubscriptionInfo): void
  clientEvent (event: ClientEvent, session: Session, info: RegistrationInfo | SubscriptionInfo): void {
    if (event === 'register') traceClientEvent(event, session, (info as RegistrationInfo).uri, info.match, info.id)
    else if (event === 'subscribe') traceClientEvent(event, session, (info as SubscriptionInfo).topic, info.match, info.id)
    const hooks = this.events[event] as Array<(session: Session, info: RegistrationInfo | SubscriptionInfo) => unknown>
    for (const hook of hooks) this.run(EVENT_HOOK_NAMES[event], session, () => hook(session, info))
  }

  private runAll (hooks: SessionHook[], session: Session, name: string): void {
    for (const hook of hooks) this.run(name, session, () => hook(session))
  }

  private run (name: string, session: Session, run: () => unknown): void {
    try {
      const result = run()
      if (isThenable(result)) this.pending.add(result.then(undefined, (err: unknown) => hookFailed(err, session, name)))
    } catch (err) {
      hookFailed(err, session, name)
    }
  }
}

function hookFailed (err: unknown, session: Session, name: string): void {
  session.log.error({ err }, `fastify-wamp: ${name} hook failed`)
}
