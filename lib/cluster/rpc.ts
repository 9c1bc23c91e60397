import type { Redis } from 'ioredis'
import type { ClusterStats } from './fanout.js'
import type { Kwargs } from '../wire/messages.js'
import { ErrorUri } from '../wire/uris.js'
import { WampError } from '../wire/wamp-error.js'
import { invokeCallee } from '../rpc/outgoing-call.js'
import type { CallerIdentity, CallResult, ClientCallOptions } from '../rpc/outgoing-call.js'
import type { PayloadSchema } from '../validation.js'
import { resultError } from '../validation.js'
import { ClusterRegistry, realmOf } from './registry.js'
import { instanceLost, networkFailure, RemoteCall, unencodable, unreachable } from './remote-call.js'
import type { CallHandle } from './remote-call.js'
import type { RemoteCallee, RemoteSessionInfo, SessionFilter } from './registry.js'
import type { ClusterHost, ClusterLink } from './link.js'
import { traceContextToWire } from '../trace-context.js'
import { CANCEL, ERROR, PROGRESS, REQUEST, RESULT, RpcOutbox, unpackRpc } from './rpc-outbox.js'
import { RemoteSessionControl } from './remote-control.js'
import { ServedCalls } from './served-calls.js'
import type { Session } from '../session/session.js'

// Cluster-wide RPC on the Redis fan-out engine (`new RedisFanout({ redis, rpc: true })`).
//
// Which instance holds which session and registration: ./registry.ts (in Redis); session control: ./remote-control.ts.
// Point to point: each instance SUBSCRIBEs to P rpc:<instance> only. A call is one message to the callee's instance
// and one message with the result back (plus one per progressive result, one for a cancel); nothing is broadcast.
// The messages of one tick for one instance leave as one PUBLISH (./rpc-outbox.ts); calls served for other
// instances: ./served-calls.ts.
// An instance that dies is noticed by the liveness probe (PUBSUB NUMSUB of its channel, every probeInterval while
// calls are in flight with it; the heartbeat check backs it up): calls waiting on it end with network_failure
// (kwargs.reason 'instance_lost'), calls served for it are interrupted. The first instance whose sweep notices the
// expired heartbeat removes its entries (lock key SET NX PX).

export class ClusterRpc {
  readonly stats: ClusterStats
  /** This instance's RPC channel (only this instance subscribes to it). */
  readonly channel: string
  /** Which instance holds which session and registration. */
  readonly registry: ClusterRegistry
  /** EVENT, KILL, revocations and DESCRIBE for sessions of other instances (./remote-control.ts). */
  readonly control: RemoteSessionControl
  private readonly link: ClusterLink
  private host: ClusterHost | undefined
  private readonly pending: Map<number, RemoteCall>
  private readonly outbox: RpcOutbox
  private readonly served: ServedCalls
  private nextCallId: number
  private checking: boolean
  private probing: boolean
  private probeTimer: NodeJS.Timeout | undefined

  constructor (link: ClusterLink) {
    this.link = link
    this.stats = { callsOut: 0, callsIn: 0, messagesOut: 0, messagesIn: 0 }
    this.channel = `${link.prefix}rpc:${link.instanceId}`
    this.registry = new ClusterRegistry(link)
    this.host = undefined
    this.pending = new Map()
    this.outbox = new RpcOutbox(link, this.stats, (id, reason) => this.undelivered(id, reason))
    this.served = new ServedCalls(this.outbox, this.stats)
    this.control = new RemoteSessionControl({
      send: (instance, message) => this.outbox.send(instance, message),
      connected: () => { this.connected() },
      ask: (instance, message, timeout) => this.ask(instance, message, timeout),
      ours: (realm, id) => this.ours(realm, id)
    })
    this.nextCallId = 1
    this.checking = false
    this.probing = false
    this.probeTimer = undefined
  }

  attach (host: ClusterHost): void {
    this.host = host
    this.registry.attach(host)
  }

  /** A session anywhere in the cluster (not this instance's: the caller looks in `sessions` first). */
  async session (id: number): Promise<RemoteSessionInfo | undefined> {
    return await this.registry.sessions.session(this.connected(), id)
  }

  private key (name: string): string {
    return `${this.link.prefix}rpc:${name}`
  }

  // ---- calls out -------------------------------------------------------------------------------------------

  /**
   * Calls `uri` on a callee another instance holds: the oldest registration, or for a shared routed one the
   * registration's policy over the cluster's callees in registration order (roundrobin: a Redis counter per URI).
   * The call's timeout and signal cover the whole call, the registry lookup included. A client's CALL (`caller`)
   * reaches only registrations offered to other clients (router `allow`), as on the callee's instance.
   */
  call (realm: string, uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined,
    options: ClientCallOptions<PayloadSchema | undefined>, includeLocal = false, caller?: CallerIdentity, handle?: CallHandle): Promise<CallResult> {
    const call = this.open(options, handle)
    if (call instanceof WampError) return Promise.reject(call)
    try {
      // The steady state: the registry is cached and the pick needs no counter, so the call goes out in this tick.
      const chosen = this.registry.cachedPick(realm, uri, includeLocal, caller !== undefined)
      if (chosen !== undefined) this.start(call, chosen, realm, uri, args, kwargs, options, caller)
      else {
        this.route(call, realm, uri, args, kwargs, options, includeLocal, caller)
          .catch((err: unknown) => this.settle(call, err instanceof WampError ? err : networkFailure(err as Error)))
      }
    } catch (err) {
      this.settle(call, err)
    }
    return call.promise
  }

  /** Cancels a call made with a `handle` (a routed client CALL: cheaper than a signal per call). */
  cancel (handle: CallHandle): void {
    const call = handle.call
    if (call !== undefined) this.interrupt(call, new WampError(ErrorUri.canceled, ['call canceled']))
  }

  /** Calls `uri` on one session of another instance (`RemoteSession.call()`). */
  invoke (instance: string, realm: string, uri: string, session: number, registration: number, args: unknown[] | undefined,
    kwargs: Kwargs | undefined, options: ClientCallOptions<PayloadSchema | undefined>, caller?: CallerIdentity): Promise<CallResult> {
    const call = this.open(options, undefined)
    if (call instanceof WampError) return Promise.reject(call)
    this.dispatch(call, instance, realm, uri, session, registration, args, kwargs, caller)
    return call.promise
  }

  /** A call in `pending` with its timeout and signal armed, or why it cannot be made. */
  private open (options: ClientCallOptions<PayloadSchema | undefined>, handle: CallHandle | undefined): RemoteCall | WampError {
    if (this.link.connection() === undefined) return unreachable()
    if (options.signal?.aborted === true) return new WampError(ErrorUri.canceled, ['call canceled'])
    const call = new RemoteCall(this.nextCallId++, options)
    this.pending.set(call.id, call)
    if (handle !== undefined) handle.call = call
    if (options.timeout !== undefined && options.timeout > 0) {
      call.timer = setTimeout(() => this.interrupt(call, new WampError(ErrorUri.timeout, ['call timed out'])), options.timeout)
    }
    if (options.signal !== undefined) {
      call.signal = options.signal
      call.onAbort = () => this.interrupt(call, new WampError(ErrorUri.canceled, ['call canceled']))
      options.signal.addEventListener('abort', call.onAbort)
    }
    return call
  }

  private async route (call: RemoteCall, realm: string, uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined,
    options: ClientCallOptions<PayloadSchema | undefined>, includeLocal: boolean, caller: CallerIdentity | undefined): Promise<void> {
    let chosen: RemoteCallee | undefined
    for (;;) {
      const redis = this.connected()
      const version = this.registry.version
      chosen = await this.registry.pick(redis, realm, uri, includeLocal, caller !== undefined)
      if (this.pending.get(call.id) !== call) return // timed out or canceled during the lookup
      if (chosen !== undefined) break
      // After Redis came back, the other instances may not have rewritten their entries yet: not a real miss.
      if (!(await this.registry.retryAfterMiss(version))) {
        throw new WampError(ErrorUri.noSuchProcedure, [`no client has registered "${uri}" in realm "${realm}"`])
      }
      if (this.pending.get(call.id) !== call) return
    }
    this.start(call, chosen, realm, uri, args, kwargs, options, caller)
  }

  /** Sends the call to the callee picked (or invokes it here, when it is one of ours); throws to fail the call. */
  private start (call: RemoteCall, chosen: RemoteCallee, realm: string, uri: string, args: unknown[] | undefined, kwargs: Kwargs | undefined,
    options: ClientCallOptions<PayloadSchema | undefined>, caller: CallerIdentity | undefined): void {
    const { instance, session, registration } = chosen
    if (instance !== this.link.instanceId) {
      return this.dispatch(call, instance, realm, uri, session, registration, args, kwargs, caller)
    }
    // Checked as ServedCalls.serve checks a remote call: the callee's realm is the call's, and a client's call
    // reaches only what the router offers — whatever the registry entry says.
    const owner = this.host?.sessions.get(session)
    const callee = owner?.joined?.name === realm ? owner.registrations.get(registration) : undefined
    if (callee === undefined) throw new WampError(ErrorUri.canceled, [`the callee of "${uri}" left`])
    if (caller !== undefined && owner?.joined?.dealer.registry.byId.get(callee.id)?.routed !== true) {
      throw new WampError(ErrorUri.noSuchProcedure, [`no client has registered "${uri}" in realm "${realm}"`])
    }
    // A callee of our own (shared registration picked cluster-wide): our timer and signal end it through `local`.
    call.instance = instance
    call.local = new AbortController()
    const local: ClientCallOptions<PayloadSchema | undefined> = { signal: call.local.signal, result: options.result }
    if (options.onProgress !== undefined) local.onProgress = options.onProgress
    if (call.trace !== undefined) Object.assign(local, call.trace)
    invokeCallee(callee, uri, args, kwargs, local, caller).then((r) => this.settle(call, undefined, r), (err: unknown) => this.settle(call, err))
  }

  private dispatch (call: RemoteCall, instance: string, realm: string, uri: string, session: number, registration: number,
    args: unknown[] | undefined, kwargs: Kwargs | undefined, caller: CallerIdentity | undefined): void {
    call.instance = instance
    const problem = this.outbox.send(instance, [REQUEST, this.link.instanceId, call.id, realm, uri, session, registration, args ?? null, kwargs ?? null,
      call.onProgress !== undefined, caller === undefined ? null : [caller.id, caller.authid, caller.authrole, caller.discloseMe],
      traceContextToWire(call.trace)])
    // The caller's payload, as for a local callee whose serializer refuses it (the call never left).
    if (problem !== undefined) return this.settle(call, unencodable('the call\'s payload', problem))
    this.stats.callsOut++
    this.watch()
  }

  /** A REQUEST reached nobody (the instance is gone: its entries will be swept) or Redis failed: it never ran. */
  private undelivered (id: number, reason: 'lost' | Error | undefined): void {
    const call = this.pending.get(id)
    if (call === undefined || call.local !== undefined) return
    if (reason instanceof Error) this.abandoned(call)
    this.settle(call, reason === 'lost' ? instanceLost(call.instance, 'the call did not reach it') : networkFailure(reason))
  }

  /**
   * A call failed for Redis while its REQUEST may still be on its way (a PUBLISH that timed out runs once a hung
   * Redis resumes): a CANCEL follows it on the same connection, so its callee is interrupted rather than left
   * answering nobody. (The outbox tries it again while Redis cannot take it.)
   */
  private abandoned (call: RemoteCall): void {
    if (call.instance !== '' && call.local === undefined) this.outbox.send(call.instance, [CANCEL, this.link.instanceId, call.id])
  }

  private interrupt (call: RemoteCall, err: WampError): void {
    if (this.pending.get(call.id) !== call) return
    if (call.local !== undefined) call.local.abort()
    else if (call.instance !== '') this.outbox.send(call.instance, [CANCEL, this.link.instanceId, call.id])
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

  // ---- liveness of the instances calls wait on --------------------------------------------------------------

  /** Probes every `probeInterval` while calls are in flight (out or in); stops when there are none. */
  private watch (): void {
    if (this.probeTimer !== undefined) return
    this.probeTimer = setInterval(() => { this.probe().catch(noop) }, this.link.probeInterval).unref()
  }

  /**
   * A crashed instance's Redis connections drop at once, and with them its subscription to its RPC channel: one
   * PUBSUB NUMSUB over the channels of the instances we have calls with tells which are gone (0 subscribers).
   */
  private async probe (): Promise<void> {
    const instances = this.peers()
    if (instances.length === 0) {
      clearInterval(this.probeTimer)
      this.probeTimer = undefined
      return
    }
    const redis = this.link.connection()
    if (redis === undefined || this.probing) return
    this.probing = true
    try {
      const counts = await redis.pubsub('NUMSUB', ...instances.map((id) => this.key(id))) as Array<string | number>
      for (let i = 0; i < instances.length; i++) {
        if (Number(counts[2 * i + 1]) === 0) this.lost(instances[i], 'it no longer listens on Redis (crashed or cut off)')
      }
    } finally {
      this.probing = false
    }
  }

  /** The other instances that calls in flight wait on or come from. */
  private peers (): string[] {
    const peers = new Set<string>()
    for (const call of this.pending.values()) if (call.instance !== '' && call.local === undefined) peers.add(call.instance)
    this.served.addInstances(peers)
    return [...peers]
  }

  /** `instance` is gone: calls waiting on it fail, calls served for it are interrupted (nobody takes the answer). */
  private lost (instance: string, why: string): void {
    // Its entries stay in Redis until a sweep removes them (which announces it); a fresh read costs little here.
    this.registry.forget()
    for (const call of this.pending.values()) {
      if (call.instance === instance && call.local === undefined) this.settle(call, instanceLost(instance, why))
    }
    this.served.lost(instance)
  }

  /**
   * Every heartbeat while calls are in flight: a backstop for the probe (an instance whose heartbeat key expired).
   * Not while the registry is rebuilt after an outage: every key may have expired meanwhile (a hung Redis's clock ran
   * on), and the instances write theirs again within a heartbeat; the probe still finds one that is gone.
   */
  async check (): Promise<void> {
    const redis = this.link.connection()
    const instances = this.peers()
    if (redis === undefined || instances.length === 0 || this.checking || this.registry.rebuilding) return
    this.checking = true
    try {
      const alive = await redis.mget(instances.map((id) => `${this.link.prefix}instance:${id}`))
      for (let i = 0; i < instances.length; i++) if (alive[i] === null) this.lost(instances[i], 'its heartbeat expired')
    } finally {
      this.checking = false
    }
  }

  /** Redis is down: calls waiting on other instances fail now (their answers could not reach us). */
  down (error: Error | undefined): void {
    this.registry.forget()
    for (const call of this.pending.values()) {
      if (call.local !== undefined) continue
      this.abandoned(call)
      this.settle(call, networkFailure(error))
    }
    this.served.abortAll(networkFailure(error))
  }

  close (): void {
    clearInterval(this.probeTimer)
    this.probeTimer = undefined
    this.registry.stopWaiting()
    for (const call of this.pending.values()) this.settle(call, new WampError(ErrorUri.canceled, ['the server is shutting down']))
    this.served.abortAll(instanceLost(this.link.instanceId, 'it is shutting down'))
    // What is queued still goes out (the answers of calls served until now, CANCELs of ours) while Redis is there.
    this.outbox.flush()
  }

  /** A message that waits for its answer like a call (session control's DESCRIBE): the args of its RESULT. */
  private async ask (instance: string, message: (from: string, callId: number) => unknown[], timeout: number): Promise<unknown[]> {
    const call = this.open({ timeout }, undefined)
    if (call instanceof WampError) throw call
    call.instance = instance
    this.outbox.send(instance, message(this.link.instanceId, call.id))
    this.watch()
    return (await call.promise).args
  }

  /** The sessions of `realm` on the other instances that `filter` picks, as the cluster registry lists them. */
  async sessionsWhere (realm: string, filter: SessionFilter): Promise<Array<{ instance: string, id: number }>> {
    return await this.registry.sessions.where(this.connected(), realm, filter)
  }

  /** Redis is up: the cluster registry can be read. */
  get up (): boolean {
    return this.link.connection() !== undefined
  }

  private connected (): Redis {
    const redis = this.link.connection()
    if (redis === undefined) throw unreachable()
    return redis
  }

  // ---- messages in -----------------------------------------------------------------------------------------

  receive (data: Buffer): void {
    for (const m of unpackRpc(data)) this.dispatchIn(m)
  }

  private dispatchIn (m: unknown[]): void {
    this.stats.messagesIn++
    switch (m[0]) {
      case REQUEST: {
        this.served.serve(m, this.ours(m[3], m[5]))
        if (this.served.busy) this.watch()
        return
      }
      case CANCEL: return this.served.cancel(m[1] as string, m[2] as number)
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
      default: return this.control.receive(m)
    }
  }

  /** Our session `id`, if it is in `realm`. */
  private ours (realm: unknown, id: unknown): Session | undefined {
    const session = this.host?.sessions.get(id as number)
    return session !== undefined && realmOf(session) === realm ? session : undefined
  }
}

function noop (): void {}

export type { ClusterStats }
