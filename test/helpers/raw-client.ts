// Raw-frame WAMP test client over `ws`.
//
// Sends exactly the arrays you give it (encoded with the negotiated
// serializer) and hands back every decoded server message in arrival order.
// Nothing is validated: this is the tool for protocol-violation tests.

import WebSocket from 'ws'
import type { ClientOptions, RawData } from 'ws'
import { pack, Unpackr } from 'msgpackr'
import type { Options as MsgpackrOptions } from 'msgpackr'
import { encode as cborEncode, Decoder as CborDecoder } from 'cbor-x'
import type { Options as CborOptions } from 'cbor-x'

/** WAMP message type codes (for readability in tests). */
export const MSG = {
  HELLO: 1,
  WELCOME: 2,
  ABORT: 3,
  CHALLENGE: 4,
  AUTHENTICATE: 5,
  GOODBYE: 6,
  ERROR: 8,
  PUBLISH: 16,
  PUBLISHED: 17,
  SUBSCRIBE: 32,
  SUBSCRIBED: 33,
  UNSUBSCRIBE: 34,
  UNSUBSCRIBED: 35,
  EVENT: 36,
  CALL: 48,
  CANCEL: 49,
  RESULT: 50,
  REGISTER: 64,
  REGISTERED: 65,
  UNREGISTER: 66,
  UNREGISTERED: 67,
  INVOCATION: 68,
  INTERRUPT: 69,
  YIELD: 70,
} as const

const MSG_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(MSG).map(([name, code]) => [code, name])
)

export function msgName (type: unknown): string {
  return typeof type === 'number' && MSG_NAMES[type] !== undefined ? `${MSG_NAMES[type]}(${type})` : String(type)
}

export type SerializerName = 'json' | 'msgpack' | 'cbor'

export interface OpenRawOptions {
  /** Offered subprotocols, in order. Default `['wamp.2.json']`; `[]` offers none. */
  protocols?: string[]
  /** Extra HTTP headers for the upgrade request. */
  headers?: Record<string, string>
  /** Force the serializer instead of deriving it from the negotiated subprotocol. */
  serializer?: SerializerName
  /** Passed through to the `ws` client constructor. */
  wsOptions?: ClientOptions
}

export interface CloseInfo {
  code: number
  reason: string
}

/** Error thrown by openRaw when the HTTP upgrade is refused. */
export interface UpgradeRefusedError extends Error {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export const DEFAULT_HELLO_DETAILS = {
  roles: {
    caller: { features: {} },
    callee: { features: {} },
    publisher: { features: {} },
    subscriber: { features: {} },
  },
}

/** HELLO details of a caller that announces progressive call invocations (it may stream a CALL's input). */
export const STREAMING_HELLO_DETAILS = {
  roles: {
    ...DEFAULT_HELLO_DETAILS.roles,
    caller: { features: { progressive_call_invocations: true, call_canceling: true, progressive_call_results: true } },
  },
}

// Decoders: keep safe-range 64-bit ints as numbers, so ids compare with ===.
// (Values outside +-2^53 come back as bigint and will show up in assertions.)
// ('auto' and int64AsNumber exist at runtime but are missing from the typings.)
const msgpackDecoder = new Unpackr({ int64AsType: 'auto', mapsAsObjects: true, useRecords: false } as unknown as MsgpackrOptions)
const cborDecoder = new CborDecoder({ int64AsNumber: true, mapsAsObjects: true, useRecords: false } as unknown as CborOptions)

type Entry = { ok: true, msg: unknown[] } | { ok: false, error: Error }

function serializerFor (protocol: string): SerializerName {
  if (protocol === 'wamp.2.msgpack' || protocol === 'wamp.2.msgpack.batched') return 'msgpack'
  if (protocol === 'wamp.2.cbor' || protocol === 'wamp.2.cbor.batched') return 'cbor'
  return 'json'
}

/** Batched subprotocols: JSON messages each end with 0x1e; binary ones each follow their uint32 BE length. */
function splitBatch (buf: Buffer, binary: boolean): Buffer[] {
  const parts: Buffer[] = []
  if (!binary) {
    // 0x18: autobahn-python's separator, which the server answers with when the client used it.
    const separator = buf[buf.length - 1]
    if (separator !== 0x1e && separator !== 0x18) throw new Error('batch does not end with 0x1e')
    let start = 0
    for (let i = 0; i < buf.length; i++) {
      if (buf[i] === separator) {
        parts.push(buf.subarray(start, i))
        start = i + 1
      }
    }
    return parts
  }
  if (buf.length === 0) throw new Error('empty batch')
  let at = 0
  while (at < buf.length) {
    if (buf.length - at < 4) throw new Error('batch truncated in a length prefix')
    const length = buf.readUInt32BE(at)
    if (length > buf.length - at - 4) throw new Error('batch truncated in a message')
    parts.push(buf.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  return parts
}

function show (v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === 'bigint') return `${x}n`
      if (x instanceof Uint8Array) return `<bytes ${Buffer.from(x).toString('hex')}>`
      if (x !== null && typeof x === 'object' && (x as { type?: unknown }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
        return `<bytes ${Buffer.from((x as { data: number[] }).data).toString('hex')}>`
      }
      return x
    })
    return s !== undefined && s.length > 400 ? s.slice(0, 400) + '…' : String(s)
  } catch {
    return String(v)
  }
}

function toBuffer (data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data
  if (Array.isArray(data)) return Buffer.concat(data)
  return Buffer.from(data)
}

export class RawClient {
  /** Negotiated subprotocol ('' when none was negotiated). */
  readonly protocol: string
  /** Serializer used by send() and for decoding binary frames. */
  readonly serializer: SerializerName
  /** Resolves (never rejects) when the socket closes. */
  readonly closed: Promise<CloseInfo>
  /** Every successfully decoded message, in arrival order (never consumed). */
  readonly history: unknown[][] = []
  /** Underlying socket, for anything not covered here. */
  readonly ws: WebSocket
  /** A batched subprotocol (wamp.2.<serializer>.batched) was negotiated: send() and frames use batches. */
  readonly batched: boolean
  /** Batched: how many messages each frame received carried, in arrival order. */
  readonly frameSizes: number[] = []

  #queue: Entry[] = []
  #listeners = new Set<() => void>()
  #closeInfo: CloseInfo | null = null
  #socketErrors: Error[] = []

  constructor (ws: WebSocket, serializer?: SerializerName) {
    this.ws = ws
    this.protocol = ws.protocol
    this.serializer = serializer ?? serializerFor(ws.protocol)
    this.batched = ws.protocol.endsWith('.batched')
    ws.on('message', (data: RawData, isBinary: boolean) => this.#onFrame(data, isBinary))
    ws.on('error', (err: Error) => { this.#socketErrors.push(err) })
    this.closed = new Promise<CloseInfo>((resolve) => {
      ws.once('close', (code: number, reason: Buffer) => {
        this.#closeInfo = { code, reason: reason.toString() }
        resolve(this.#closeInfo)
        this.#notify()
      })
    })
  }

  /** Close info if the socket has closed, else null. */
  get closeInfo (): CloseInfo | null {
    return this.#closeInfo
  }

  /** Socket-level errors seen so far (e.g. invalid frames from the server). */
  get socketErrors (): readonly Error[] {
    return this.#socketErrors
  }

  /** Number of decoded messages waiting to be consumed. */
  get pending (): number {
    return this.#queue.length
  }

  #onFrame (data: RawData, isBinary: boolean): void {
    const buf = toBuffer(data)
    if (!this.batched) return this.#onMessage(buf, isBinary)
    let parts: Buffer[]
    try {
      parts = splitBatch(buf, isBinary)
    } catch (err) {
      this.#queue.push({ ok: false, error: new Error(`RawClient: malformed batch: ${(err as Error).message}`) })
      return this.#notify()
    }
    this.frameSizes.push(parts.length)
    for (const part of parts) this.#onMessage(part, isBinary)
  }

  #onMessage (buf: Buffer, isBinary: boolean): void {
    let entry: Entry
    try {
      let msg: unknown
      if (!isBinary) {
        msg = JSON.parse(buf.toString('utf8'))
      } else if (this.serializer === 'msgpack') {
        msg = msgpackDecoder.unpack(buf)
      } else if (this.serializer === 'cbor') {
        msg = cborDecoder.decode(buf)
      } else {
        throw new Error(`binary frame received on ${this.protocol || 'no subprotocol'}: ${buf.toString('hex').slice(0, 200)}`)
      }
      if (!Array.isArray(msg)) throw new Error(`decoded frame is not an array: ${show(msg)}`)
      this.history.push(msg)
      entry = { ok: true, msg }
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      e.message = `RawClient: cannot decode ${isBinary ? 'binary' : 'text'} frame (${this.serializer}): ${e.message}`
      entry = { ok: false, error: e }
    }
    this.#queue.push(entry)
    this.#notify()
  }

  #notify (): void {
    for (const l of [...this.#listeners]) l()
  }

  /** Resolves when something arrives or the socket closes, or after ms. Returns false on timeout. */
  #waitForActivity (ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(timer)
        this.#listeners.delete(listener)
        resolve(v)
      }
      const listener = (): void => done(true)
      const timer = setTimeout(() => done(false), Math.max(0, ms))
      this.#listeners.add(listener)
    })
  }

  #describeState (): string {
    const state = this.#closeInfo
      ? `closed ${this.#closeInfo.code}${this.#closeInfo.reason ? ` "${this.#closeInfo.reason}"` : ''}`
      : ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'][this.ws.readyState] ?? String(this.ws.readyState)
    const last = this.history.length ? `; last received: ${show(this.history[this.history.length - 1])}` : '; nothing received yet'
    return `protocol=${this.protocol || '(none)'}, socket ${state}, ${this.history.length} message(s) received${last}`
  }

  /** Send a WAMP message encoded with the negotiated serializer (batched: as a batch of one). */
  send (msg: unknown[]): void {
    if (this.batched) return this.sendBatch([msg])
    const data = this.encode(msg)
    this.ws.send(data, { binary: typeof data !== 'string' })
  }

  /** One WAMP message encoded with the serializer, without batch framing. */
  encode (msg: unknown[]): string | Buffer {
    switch (this.serializer) {
      case 'json': return JSON.stringify(msg)
      case 'msgpack': return pack(msg)
      case 'cbor': return cborEncode(msg)
    }
  }

  /** Several WAMP messages (or already encoded ones) as one batch frame in this serializer's framing. */
  batch (msgs: Array<unknown[] | string | Buffer>): Buffer {
    const parts = msgs.map((m) => Array.isArray(m) ? this.encode(m) : m)
    if (this.serializer === 'json') return Buffer.from(parts.map((p) => p.toString() + '\x1e').join(''))
    return Buffer.concat(parts.flatMap((p) => {
      const bytes = Buffer.from(p)
      const length = Buffer.alloc(4)
      length.writeUInt32BE(bytes.length)
      return [length, bytes]
    }))
  }

  /** Send several WAMP messages in one WebSocket message (a batched subprotocol's framing). */
  sendBatch (msgs: Array<unknown[] | string | Buffer>): void {
    this.ws.send(this.batch(msgs), { binary: this.serializer !== 'json' })
  }

  /** Send arbitrary bytes/text as one frame (binary defaults to: data is not a string). */
  sendRaw (data: string | Buffer, binary: boolean = typeof data !== 'string'): void {
    this.ws.send(data, { binary })
  }

  /** Next decoded message in arrival order (buffered; nothing is lost). */
  next (timeoutMs = 2000): Promise<unknown[]> {
    return this.#take(() => true, 'next message', timeoutMs, [])
  }

  /** Next message whose type is `type`; earlier messages of other types are consumed and skipped. */
  nextOfType (type: number, timeoutMs = 2000): Promise<unknown[]> {
    const skipped: unknown[][] = []
    return this.#take((m) => m[0] === type, `message of type ${msgName(type)}`, timeoutMs, skipped)
  }

  async #take (match: (m: unknown[]) => boolean, what: string, timeoutMs: number, skipped: unknown[][]): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      while (this.#queue.length > 0) {
        const entry = this.#queue.shift() as Entry
        if (!entry.ok) throw entry.error
        if (match(entry.msg)) return entry.msg
        skipped.push(entry.msg)
      }
      const skippedText = skipped.length ? `; skipped ${skipped.length}: ${skipped.map(show).join(', ')}` : ''
      if (this.#closeInfo) {
        throw new Error(`RawClient: socket closed while waiting for ${what} (${this.#describeState()}${skippedText})`)
      }
      const remaining = deadline - Date.now()
      if (remaining <= 0 || !(await this.#waitForActivity(remaining))) {
        if (this.#queue.length > 0) continue
        throw new Error(`RawClient: timed out after ${timeoutMs}ms waiting for ${what} (${this.#describeState()}${skippedText})`)
      }
    }
  }

  /**
   * Resolves if no message arrives within `ms`; rejects (with `.wampMessage`) if one
   * is already queued or arrives. Does not consume the message.
   */
  async expectNone (ms = 200): Promise<void> {
    const deadline = Date.now() + ms
    for (;;) {
      const head = this.#queue[0]
      if (head !== undefined) {
        if (!head.ok) throw head.error
        const err = new Error(`RawClient: expected no message within ${ms}ms, got ${show(head.msg)}`) as Error & { wampMessage: unknown[] }
        err.wampMessage = head.msg
        throw err
      }
      const remaining = deadline - Date.now()
      if (remaining <= 0 || this.#closeInfo) return
      if (!(await this.#waitForActivity(remaining))) return
    }
  }

  /** Resolves with the close info once the socket closes; rejects after timeoutMs. */
  async expectClose (timeoutMs = 2000): Promise<CloseInfo> {
    if (this.#closeInfo) return this.#closeInfo
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`RawClient: socket not closed within ${timeoutMs}ms (${this.#describeState()})`)), timeoutMs)
    })
    try {
      return await Promise.race([this.closed, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Send a close frame and wait for the socket to close. */
  close (code?: number, reason?: string): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(code, reason)
    }
    return this.closed
  }

  /** Destroy the TCP connection without a close handshake. */
  terminate (): Promise<CloseInfo> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate()
    return this.closed
  }

  /** Send HELLO and return the next message (normally WELCOME, ABORT or CHALLENGE). */
  hello (realm = 'realm1', details: Record<string, unknown> = DEFAULT_HELLO_DETAILS, timeoutMs = 2000): Promise<unknown[]> {
    this.send([MSG.HELLO, realm, details])
    return this.next(timeoutMs)
  }
}

/**
 * Open a WebSocket and resolve once it is open. Rejects with an Error carrying
 * `statusCode`, `headers` and `body` when the HTTP upgrade is refused.
 */
export function openRaw (url: string, opts: OpenRawOptions = {}): Promise<RawClient> {
  const protocols = opts.protocols ?? ['wamp.2.json']
  const wsOptions: ClientOptions = { ...opts.wsOptions }
  if (opts.headers) wsOptions.headers = { ...wsOptions.headers, ...opts.headers }
  const ws = new WebSocket(url, protocols, wsOptions)

  return new Promise<RawClient>((resolve, reject) => {
    let settled = false
    const fail = (err: Error): void => {
      if (settled) return
      settled = true
      reject(err)
    }
    ws.on('error', fail)
    ws.once('close', (code: number) => fail(new Error(`RawClient: socket closed (${code}) before open`)))
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = []
      const finish = (): void => {
        const statusCode = res.statusCode ?? 0
        const body = Buffer.concat(chunks).toString('utf8')
        const err = new Error(`RawClient: upgrade refused with HTTP ${statusCode}${body ? `: ${body.slice(0, 300)}` : ''}`) as UpgradeRefusedError
        err.statusCode = statusCode
        err.headers = res.headers
        err.body = body
        fail(err)
        ws.terminate() // aborts the pending handshake (emits error + close, both ignored once settled)
      }
      res.on('data', (c: Buffer) => chunks.push(c))
      res.once('end', finish)
      res.once('error', finish)
    })
    ws.once('open', () => {
      if (settled) return
      settled = true
      ws.off('error', fail)
      resolve(new RawClient(ws, opts.serializer))
    })
  })
}

export interface ConnectRawOptions extends OpenRawOptions {
  realm?: string
  details?: Record<string, unknown>
}

export interface ConnectRawResult {
  client: RawClient
  sessionId: number
  welcome: unknown[]
}

/** openRaw + HELLO; throws (after closing the socket) unless the answer is WELCOME. */
export async function connectRaw (url: string, opts: ConnectRawOptions = {}): Promise<ConnectRawResult> {
  const client = await openRaw(url, opts)
  let welcome: unknown[]
  try {
    welcome = await client.hello(opts.realm ?? 'realm1', opts.details ?? DEFAULT_HELLO_DETAILS)
  } catch (err) {
    await client.terminate()
    throw err
  }
  if (welcome[0] !== MSG.WELCOME) {
    await client.terminate()
    throw new Error(`connectRaw: expected WELCOME, got ${show(welcome)}`)
  }
  return { client, sessionId: welcome[1] as number, welcome }
}

/**
 * The messages `client` receives before an EVENT whose first argument is 'marker' (published by `publishMarker`):
 * "nothing arrived" proven by order, without a timeout.
 */
export async function messagesBeforeMarker (client: RawClient, publishMarker: () => void): Promise<unknown[][]> {
  publishMarker()
  const got: unknown[][] = []
  for (;;) {
    const msg = await client.next()
    if (msg[0] === MSG.EVENT && (msg[4] as unknown[] | undefined)?.[0] === 'marker') return got
    got.push(msg)
  }
}
