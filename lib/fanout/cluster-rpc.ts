import { Packr } from 'msgpackr'
import type { Redis } from 'ioredis'
import type { Kwargs } from '../messages.js'
import { ErrorUri } from '../uris.js'
import { WampError } from '../wamp-error.js'
import { findRegistration, invokeCallee } from '../outgoing-call.js'
import type { CallerIdentity, CallResult, ClientCallOptions } from '../outgoing-call.js'
import type { PayloadSchema, PayloadValidator } from '../validation.js'
import { resultError, validatorFor } from '../validation.js'
import { ClusterRegistry, realmOf } from './cluster-registry.js'
import type { ClusterHost, ClusterLink, RemoteSessionInfo } from './cluster-registry.js'

// Cluster-wide RPC on the Redis fan-out engine (`new RedisFanout({ redis, rpc: true })`).
//
// Which instance holds which session and registration: ./cluster-registry.ts (in Redis).
// Point to point: each instance SUBSCRIBEs to P rpc:<instance> only. A call is one PUBLISH to the callee's instance
// and one PUBLISH of the result back (plus one per progressive result, one for a cancel); nothing is broadcast.
// An instance that dies is noticed by the heartbeat check (calls waiting on it end with wamp.error.canceled) and the
// first instance to notice removes its entries (lock key SET NX PX).

const REQUEST = 1
const CANCEL = 2
const PROGRESS = 3
const RESULT = 4
const ERROR = 5
const EVENT = 6

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', variableMapSize: true })

export interface ClusterStats {
  /** Calls sent to other instances. */
  callsOut: number
  /** Calls served for other instances. */
  callsIn: number
  /** Redis messages published by the RPC layer (requests, replies, progress, cancels, events). */
  messagesOut: number
  messagesIn: number
}

class RemoteCall {
  readonly id: number
  readonly instance: string
  readonly onProgress: ((result: CallResult) => void) | undefined
  readonly validator: PayloadValidator | undefined
  readonly resolve: (r: CallResult) => void
  readonly reject: (e: unknown) => void
  signal: AbortSignal | undefined
  timer: NodeJS.Timeout | undefined
  onAbort: (() => void) | undefined

  constructor (id: number, instance: string, options: ClientCallOptions<PayloadSchema | undefined>,
    resolve: (r: CallResult) => void, reject: (e: unknown) => void) {
    this.id = id
    this.instance = instance
    this.onProgress = options.onProgress
    this.validator = options.result === undefined ? undefined : validatorFor(options.result)
    this.resolve = resolve
    this.reject = reject
    this.signal = undefined
    this.timer = undefined
    this.onAbort = undefined
  }
}

export class ClusterRpc {
  readonly stats: ClusterStats
  /** This instance's RPC channel (only this instance subscribes to it). */
  readonly channel: string
  /** Which instance holds which session and registration. */
  readonly registry: ClusterRegistry
  private readonly link: ClusterLink
  private host: ClusterHost | undefined
  private readonly pending: Map<number, RemoteCall>
  /** Calls served for other instances: "<instance>:<callId>" → the abort of our INVOCATION. */
  private readonly served: Map<string, AbortController>
  private nextCallId: number
  private checking: boolean

  constructor (link: ClusterLink) {
    this.link = link
    this.stats = { callsOut: 0, callsIn: 0, messagesOut: 0, messagesIn: 0 }
    this.channel = `${link.prefix}rpc:${link.instanceId}`
    this.registry = new ClusterRegistry(link)
    this.host = undefined
    this.pending = new Map()
    this.served = new Map()
    this.nextCallId = 1
    this.checking = false
  }

  attach (host: ClusterHost): void {
    this.host = host
    this.registry.attach(host)
  }

  /** A session anywhere in the cluster (not this instance's: the caller looks in `sessions` first). */
  async session (id: number): Promise<RemoteSessionInfo | undefined> {
    return await this.registry.session(this.connected(), id)
  }

  private key (name: string): string {
    return `${this.link.prefix}rpc:${name}`
  }

  // ---- calls out -------------------------------------------------------------------------------------------

  /**
   * Calls `uri` on a callee another instance holds: the oldest registration, or for a shared routed one the
   * registration's policy over the cluster's callees in registration order (roundrobin: a Redis counter per URI).
   */
  async call (realm: string, uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined,
    options: ClientCallOptions<PayloadSchema | undefined>, includeLocal = false, caller?: CallerIdentity): Promise<CallResult> {
    const chosen = await this.registry.pick(this.connected(), realm, uri, includeLocal)
    if (chosen === undefined) {
      throw new WampError(ErrorUri.noSuchProcedure, [`no client has registered "${uri}" in realm "${realm}"`])
    }
    const { instance, session, registration } = chosen
    if (instance === this.link.instanceId) {
      const callee = this.host?.sessions.get(session)?.registrations.get(registration)
      if (callee === undefined) throw new WampError(ErrorUri.canceled, [`the callee of "${uri}" left`])
      return await invokeCallee(callee, uri, args, kwargs, options, caller)
    }
    return await this.invoke(instance, realm, uri, session, registration, args, kwargs, options, caller)
  }

  /** Calls `uri` on one session of another instance (`RemoteSession.call()`). */
  invoke (instance: string, realm: string, uri: string, session: number, registration: number, args: unknown[] | undefined,
    kwargs: Kwargs | undefined, options: ClientCallOptions<PayloadSchema | undefined>, caller?: CallerIdentity): Promise<CallResult> {
    let redis: Redis
    try {
      redis = this.connected()
    } catch (err) {
      return Promise.reject(err)
    }
    if (options.signal?.aborted === true) return Promise.reject(new WampError(ErrorUri.canceled, ['call canceled']))
    return new Promise((resolve, reject) => {
      const id = this.nextCallId++
      const call = new RemoteCall(id, instance, options, resolve, reject)
      this.pending.set(id, call)
      if (options.timeout !== undefined && options.timeout > 0) {
        call.timer = setTimeout(() => this.interrupt(call, new WampError(ErrorUri.timeout, ['call timed out'])), options.timeout)
      }
      if (options.signal !== undefined) {
        call.signal = options.signal
        call.onAbort = () => this.interrupt(call, new WampError(ErrorUri.canceled, ['call canceled']))
        options.signal.addEventListener('abort', call.onAbort)
      }
      this.stats.callsOut++
      this.stats.messagesOut++
      const data = packr.pack([REQUEST, this.link.instanceId, id, realm, uri, session, registration, args ?? null, kwargs ?? null, call.onProgress !== undefined,
        caller === undefined ? null : [caller.id, caller.authid, caller.authrole, caller.discloseMe]])
      redis.publish(this.key(instance), data).then((receivers) => {
        // Nobody listens on that channel: the instance is gone (its entries will be swept).
        if (receivers === 0) this.settle(call, new WampError(ErrorUri.canceled, [`instance ${instance} is gone`]))
      }, (err: Error) => this.settle(call, networkFailure(err)))
    })
  }

  private interrupt (call: RemoteCall, err: WampError): void {
    if (this.pending.get(call.id) !== call) return
    this.send(call.instance, [CANCEL, this.link.instanceId, call.id])
    this.settle(call, err)
  }

  private settle (call: RemoteCall, err: unknown, result?: CallResult): void {
    if (this.pending.get(call.id) !== call) return
    this.pending.delete(call.id)
    if (call.timer !== undefined) clearTimeout(call.timer)
    if (call.onAbort !== undefined) call.signal?.removeEventListener('abort', call.onAbort)
    if (result !== undefined) call.resolve(result)
    else call.reject(err)
  }

  /**
   * Every heartbeat while calls are in flight: those waiting on an instance whose heartbeat key expired end with
   * canceled, and those served for such an instance are interrupted (nobody is left to take the answer).
   */
  async check (): Promise<void> {
    const redis = this.link.connection()
    if (redis === undefined || (this.pending.size === 0 && this.served.size === 0) || this.checking) return
    this.checking = true
    try {
      const instances = [...new Set([...this.pending.values()].map((c) => c.instance).concat([...this.served.keys()].map(instanceOf)))]
      const alive = await redis.mget(instances.map((id) => `${this.link.prefix}instance:${id}`))
      for (let i = 0; i < instances.length; i++) {
        if (alive[i] !== null) continue
        for (const call of this.pending.values()) {
          if (call.instance === instances[i]) this.settle(call, new WampError(ErrorUri.canceled, [`instance ${instances[i]} stopped answering`]))
        }
        for (const [key, controller] of this.served) {
          if (instanceOf(key) !== instances[i]) continue
          this.served.delete(key)
          controller.abort()
        }
      }
    } finally {
      this.checking = false
    }
  }

  /** Redis is down: calls waiting on other instances fail now (their answers could not reach us). */
  down (error: Error | undefined): void {
    for (const call of this.pending.values()) this.settle(call, networkFailure(error))
    for (const controller of this.served.values()) controller.abort()
    this.served.clear()
  }

  close (): void {
    for (const call of this.pending.values()) this.settle(call, new WampError(ErrorUri.canceled, ['the server is shutting down']))
    for (const controller of this.served.values()) controller.abort()
    this.served.clear()
  }

  /** An EVENT for one session of another instance (`RemoteSession.publish()`). */
  publishTo (instance: string, realm: string, session: number, topic: string, args?: unknown[], kwargs?: Kwargs): void {
    this.connected()
    this.send(instance, [EVENT, realm, session, topic, args ?? null, kwargs ?? null])
  }

  /** Redis is up: the cluster registry can be read. */
  get up (): boolean {
    return this.link.connection() !== undefined
  }

  private connected (): Redis {
    const redis = this.link.connection()
    if (redis === undefined) throw new WampError(ErrorUri.networkFailure, ['Redis is unreachable: calls to other instances cannot be made'])
    return redis
  }

  private send (instance: string, message: unknown[]): void {
    const redis = this.link.connection()
    if (redis === undefined) return
    let data: Buffer
    try {
      data = packr.pack(message)
    } catch {
      // Only values decoded from clients go out here (strictly checked, so always encodable); never throw from a
      // settled call's callback all the same.
      return
    }
    this.stats.messagesOut++
    redis.publish(this.key(instance), data).catch(noop)
  }

  // ---- messages in -----------------------------------------------------------------------------------------

  receive (data: Buffer): void {
    let m: unknown[]
    try {
      m = packr.unpack(data) as unknown[]
    } catch {
      return
    }
    this.stats.messagesIn++
    switch (m[0]) {
      case REQUEST: return this.serve(m)
      case CANCEL: {
        const key = `${m[1] as string}:${m[2] as number}`
        this.served.get(key)?.abort()
        this.served.delete(key)
        return
      }
      case PROGRESS: {
        const call = this.pending.get(m[1] as number)
        if (call?.onProgress === undefined) return
        try {
          call.onProgress({ args: (m[2] ?? []) as unknown[], kwargs: (m[3] ?? {}) as Kwargs })
        } catch {}
        return
      }
      case RESULT: {
        const call = this.pending.get(m[1] as number)
        if (call === undefined) return
        const args = (m[2] ?? []) as unknown[]
        const kwargs = (m[3] ?? {}) as Kwargs
        const invalid = resultError(call.validator, args, kwargs)
        if (invalid !== undefined) return this.settle(call, invalid)
        return this.settle(call, undefined, { args, kwargs } as CallResult)
      }
      case ERROR: {
        const call = this.pending.get(m[1] as number)
        if (call !== undefined) this.settle(call, new WampError(m[2] as string, (m[3] ?? []) as unknown[], (m[4] ?? {}) as Kwargs))
        return
      }
      case EVENT: {
        const session = this.host?.sessions.get(m[2] as number)
        if (session !== undefined && realmOf(session) === m[1]) session.publish(m[3] as string, (m[4] ?? undefined) as unknown[] | undefined, (m[5] ?? undefined) as Kwargs | undefined)
      }
    }
  }

  private serve (m: unknown[]): void {
    const from = m[1] as string
    const id = m[2] as number
    const uri = m[4] as string
    const session = this.host?.sessions.get(m[5] as number)
    const registration = m[6] as number
    if (session === undefined || realmOf(session) !== m[3]) {
      return this.send(from, [ERROR, id, ErrorUri.canceled, [`the callee of "${uri}" left`], null])
    }
    // 0: `RemoteSession.call()`, which names the session and the URI only.
    const callee = registration === 0 ? findRegistration(session, uri) : session.registrations.get(registration)
    if (callee === undefined) {
      return this.send(from, [ERROR, id, registration === 0 ? ErrorUri.noSuchProcedure : ErrorUri.canceled,
        [registration === 0 ? `session ${session.id} has not registered "${uri}"` : `the callee of "${uri}" left`], null])
    }
    this.stats.callsIn++
    const key = `${from}:${id}`
    const controller = new AbortController()
    this.served.set(key, controller)
    const options: ClientCallOptions = { signal: controller.signal }
    if (m[9] === true) options.onProgress = (r) => this.send(from, [PROGRESS, id, r.args, r.kwargs])
    const c = m[10] as [number, string, string, boolean] | null | undefined
    const caller = c == null ? undefined : { id: c[0], authid: c[1], authrole: c[2], discloseMe: c[3] }
    invokeCallee(callee, uri, (m[7] ?? undefined) as unknown[] | undefined, (m[8] ?? undefined) as Kwargs | undefined, options, caller).then((r) => {
      if (this.served.get(key) !== controller) return
      this.served.delete(key)
      this.send(from, [RESULT, id, r.args, r.kwargs])
    }, (err: unknown) => {
      if (this.served.get(key) !== controller) return
      this.served.delete(key)
      const e = err instanceof WampError ? err : new WampError(ErrorUri.runtimeError, [String((err as Error)?.message ?? err)])
      this.send(from, [ERROR, id, e.uri, e.args, e.kwargs])
    })
  }
}

/** The caller instance of a served call's key "<instance>:<callId>". */
function instanceOf (key: string): string {
  return key.slice(0, key.indexOf(':'))
}

function networkFailure (err: Error | undefined): WampError {
  return new WampError(ErrorUri.networkFailure, [`Redis is unreachable${err !== undefined ? ` (${err.message})` : ''}: the call to another instance failed`])
}

function noop (): void {}
