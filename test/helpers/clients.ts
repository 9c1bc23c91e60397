// Promise wrappers around the real npm WAMP clients, for Node.
// See CLIENTS.md next to this file for what these clients put on the wire.

import autobahn from 'autobahn'
import WebSocket from 'ws'
import { Wampy } from 'wampy'
import { JsonSerializer } from 'wampy/JsonSerializer.js'
import { MsgpackSerializer } from 'wampy/MsgpackSerializer.js'
import { CborSerializer } from 'wampy/CborSerializer.js'

export type ClientSerializer = 'json' | 'msgpack' | 'cbor'

const debug = Boolean(process.env.WAMP_TEST_DEBUG)

// autobahn logs every close/reconnect decision via console.warn; keep test output clean.
if (!debug) autobahn.log.warn = () => {}

type Dict = Record<string, unknown>

function timeoutAfter (ms: number, what: string): { promise: Promise<never>, cancel: () => void } {
  let timer: NodeJS.Timeout | undefined
  const promise = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms}ms`)), ms)
  })
  promise.catch(() => {})
  return { promise, cancel: () => clearTimeout(timer) }
}

// ───────────────────────────── autobahn ─────────────────────────────

export interface AutobahnConnectOptions {
  realm?: string
  /**
   * 'json' | 'msgpack' | 'cbor' offers exactly one subprotocol;
   * 'default' keeps autobahn's own offer: ['wamp.2.json', 'wamp.2.msgpack'].
   */
  serializer?: ClientSerializer | 'default'
  authmethods?: string[]
  authid?: string
  authextra?: Dict
  onchallenge?: autobahn.ConnectionOptions['onchallenge']
  /** extra HTTP headers on the upgrade request */
  headers?: Record<string, string>
  /** anything else is passed to `new autobahn.Connection()` (and wins over the defaults here) */
  [key: string]: unknown
}

export interface AutobahnCloseInfo {
  reason: autobahn.CloseReason
  details: autobahn.CloseDetails
}

export type AutobahnErrorKind = 'user' | 'internal' | 'protocol_violation'

export interface AutobahnHandle {
  session: autobahn.Session
  connection: autobahn.Connection
  /** WELCOME.Details as received */
  welcome: Dict
  /** negotiated subprotocol */
  protocol: string | null
  /** resolves when the connection closes after having opened */
  closed: Promise<AutobahnCloseInfo>
  /**
   * What autobahn reported: 'user' = exceptions from your handlers/endpoints,
   * 'protocol_violation' = autobahn failed the connection (error.message has its reason),
   * 'internal' = other internal errors.
   */
  errors: Array<{ kind: AutobahnErrorKind, error: unknown, message?: string }>
  /** GOODBYE (reason defaults to wamp.close.normal), resolve once the socket is closed. */
  close (timeoutMs?: number): Promise<void>
}

export interface AutobahnConnectError extends Error {
  reason: autobahn.CloseReason
  details: autobahn.CloseDetails
}

function autobahnSerializers (name: ClientSerializer | 'default'): autobahn.Serializer[] | undefined {
  const s = autobahn.serializer
  switch (name) {
    case 'default': return undefined
    case 'json': return [new s.JSONSerializer()]
    case 'msgpack':
      if (!s.MsgpackSerializer) throw new Error('autobahn msgpack serializer not available (msgpack5 missing?)')
      return [new s.MsgpackSerializer()]
    case 'cbor':
      if (!s.CBORSerializer) throw new Error('autobahn cbor serializer not available (cbor missing?)')
      return [new s.CBORSerializer()]
  }
}

export function connectAutobahn (url: string, opts: AutobahnConnectOptions = {}): Promise<AutobahnHandle> {
  const { realm = 'realm1', serializer = 'json', headers, authmethods, authid, authextra, onchallenge, ...extra } = opts
  const errors: AutobahnHandle['errors'] = []
  const record = (kind: AutobahnErrorKind) => (error: unknown, message?: string): void => {
    if (error === undefined) {
      // autobahn builds internal errors with its own `Error()` called without `new`,
      // which yields undefined (and sets globalThis.error!). The protocol-violation
      // case is already recorded with its reason by the wrapper below.
      if (errors.at(-1)?.kind === 'protocol_violation') return
      error = new Error('autobahn internal error (details lost)')
    }
    errors.push({ kind, error, message })
    if (debug) console.error(`[autobahn ${kind}]`, message ?? '', error)
  }

  const transport: autobahn.TransportOptions = { type: 'websocket', url }
  const serializers = autobahnSerializers(serializer)
  if (serializers) transport.serializers = serializers
  if (headers) transport.headers = headers

  const options: autobahn.ConnectionOptions = {
    realm,
    transports: [transport],
    max_retries: 0,
    retry_if_unreachable: false,
    on_user_error: record('user'),
    on_internal_error: record('internal'),
    ...(authmethods ? { authmethods } : {}),
    ...(authid ? { authid } : {}),
    ...(authextra ? { authextra } : {}),
    ...(onchallenge ? { onchallenge } : {}),
    ...extra,
  }
  const connection = new autobahn.Connection(options)

  return new Promise<AutobahnHandle>((resolve, reject) => {
    let opened = false
    let settledClose = false
    let resolveClosed!: (info: AutobahnCloseInfo) => void
    const closed = new Promise<AutobahnCloseInfo>((resolve) => { resolveClosed = resolve })

    connection.onopen = (session, details) => {
      opened = true
      const handle: AutobahnHandle = {
        session,
        connection,
        welcome: details,
        protocol: connection.transport.info.protocol,
        closed,
        errors,
        async close (timeoutMs = 2000): Promise<void> {
          if (settledClose) return
          try {
            connection.close()
          } catch {
            // "connection already closed" (thrown as a string)
          }
          const t = timeoutAfter(timeoutMs, 'autobahn close (no GOODBYE reply / socket close)')
          try {
            await Promise.race([closed, t.promise])
          } catch (err) {
            // force the socket down so the test process can exit, then report
            const tr = (connection as unknown as { _transport?: { close: () => void } | null })._transport
            tr?.close()
            throw err
          } finally {
            t.cancel()
          }
        },
      }
      resolve(handle)
    }

    // autobahn may fire onclose twice for one failure (ws 'error' then 'close'); be idempotent.
    connection.onclose = (reason, details) => {
      if (!opened) {
        const err = new Error(
          `autobahn: connection closed before open: ${reason}` +
          (details.reason ? ` (${details.reason}${details.message ? `: ${details.message}` : ''})` : '')
        ) as AutobahnConnectError
        err.reason = reason
        err.details = details
        reject(err)
      } else if (!settledClose) {
        settledClose = true
        resolveClosed({ reason, details })
      }
      return true // never retry
    }

    connection.open()

    // Record autobahn's protocol-violation reasons (it otherwise only closes the socket).
    const session = (connection as unknown as { _session?: { _protocol_violation?: (reason: string) => void } | null })._session
    const original = session?._protocol_violation
    if (session && typeof original === 'function') {
      session._protocol_violation = (reason: string) => {
        record('protocol_violation')(new Error(`autobahn protocol violation: ${reason}`), reason)
        original(reason)
      }
    }
  })
}

// ───────────────────────────── wampy ─────────────────────────────

type WampyOptions = NonNullable<ConstructorParameters<typeof Wampy>[1]>

export interface WampyConnectOptions extends Omit<WampyOptions, 'serializer' | 'ws'> {
  realm?: string
  serializer?: ClientSerializer
  /** extra HTTP headers on the upgrade request (wampy's additionalHeaders is ignored by `ws`) */
  headers?: Record<string, string>
}

export interface WampyHandle {
  client: Wampy
  /** WELCOME.Details as received */
  welcome: Dict
  /** resolves when the underlying socket has closed (wampy's onClose) */
  closed: Promise<void>
  /** errors wampy reported via onError (protocol violations, socket errors) */
  errors: Error[]
  /** disconnect(): GOODBYE wamp.close.system_shutdown, resolves once the socket is closed */
  close (timeoutMs?: number): Promise<void>
}

function wampySerializer (name: ClientSerializer): JsonSerializer | MsgpackSerializer | CborSerializer {
  switch (name) {
    case 'json': return new JsonSerializer()
    case 'msgpack': return new MsgpackSerializer()
    case 'cbor': return new CborSerializer()
  }
}

export async function connectWampy (url: string, opts: WampyConnectOptions = {}): Promise<WampyHandle> {
  const { realm = 'realm1', serializer = 'json', headers, onError, onClose, ...extra } = opts

  // wampy calls `new ws(url, protocols, null, headers, requestOptions)` (websocket-package
  // signature); `ws` takes (url, protocols, options), so wrap it to inject headers.
  const WsCtor = headers
    ? class extends WebSocket {
      constructor (address: string, protocols?: string | string[]) {
        super(address, protocols, { headers })
      }
    }
    : WebSocket

  const errors: Error[] = []
  let resolveClosed!: () => void
  const closed = new Promise<void>((resolve) => { resolveClosed = resolve })

  const client = new Wampy(url, {
    autoReconnect: false,
    ...extra,
    realm,
    serializer: wampySerializer(serializer),
    ws: WsCtor as unknown as WampyOptions['ws'],
    onError: (err: Error) => {
      errors.push(err)
      if (debug) console.error('[wampy]', err)
      return onError?.(err)
    },
    onClose: () => {
      resolveClosed()
      onClose?.()
    },
  })

  // wampy implements progressiveCall() but does not announce it as a caller; the spec requires the announcement
  // (PROTOCOL §7.4), so the tests announce it for wampy, as an application using progressiveCall() must.
  const features = (client as unknown as { _wamp_features: { roles: { caller: { features: Dict } } } })._wamp_features
  features.roles.caller.features.progressive_call_invocations = true
  let welcome: Dict
  try {
    welcome = await client.connect() as Dict
  } catch (err) {
    // WebsocketError's own message is just "Websocket error"; surface the cause.
    const inner = (err as { error?: { message?: unknown } }).error
    if (err instanceof Error && err.name === 'WebsocketError' && typeof inner?.message === 'string') {
      err.message = `${err.message}: ${inner.message}`
    }
    throw err
  }

  return {
    client,
    welcome,
    closed,
    errors,
    async close (timeoutMs = 2000): Promise<void> {
      const t = timeoutAfter(timeoutMs, 'wampy disconnect (no GOODBYE reply / socket close)')
      try {
        await Promise.race([Promise.resolve(client.disconnect()).then(() => closed), t.promise])
      } catch (err) {
        try { client.abort() } catch { /* already gone */ }
        throw err
      } finally {
        t.cancel()
      }
    },
  }
}
