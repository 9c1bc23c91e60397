// Raw-frame WAMP-over-RawSocket test client over a plain TCP / TLS / Unix socket: the 4-octet handshake, then
// length-prefixed frames. Sends exactly what it is given; hands back every frame the server sends, in order.

import { connect as tcpConnect } from 'node:net'
import type { Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { ConnectionOptions } from 'node:tls'
import { jsonSerializer, msgpackSerializer, cborSerializer } from '../../index.js'
import type { Serializer } from '../../index.js'
import { DEFAULT_HELLO_DETAILS, MSG } from './raw-client.js'

export const SERIALIZER_IDS = { json: 1, msgpack: 2, cbor: 3 } as const
export type RawSocketSerializer = keyof typeof SERIALIZER_IDS
const SERIALIZERS: Record<RawSocketSerializer, Serializer> = { json: jsonSerializer, msgpack: msgpackSerializer, cbor: cborSerializer }

export interface Frame { type: number, payload: Buffer }

export interface Target {
  port?: number
  path?: string
  tls?: ConnectionOptions
}

/** Opens a connection (TCP, TLS or Unix socket) and resolves once it is connected; nothing sent yet. */
export function openSocket (target: Target): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.tls !== undefined
      ? tlsConnect({ host: '127.0.0.1', port: target.port, ...target.tls }, () => resolve(socket))
      : target.path !== undefined ? tcpConnect({ path: target.path }, () => resolve(socket)) : tcpConnect({ host: '127.0.0.1', port: target.port as number }, () => resolve(socket))
    socket.once('error', reject)
  })
}

export class RawSocketClient {
  readonly socket: Socket
  readonly serializer: Serializer
  /** The handshake reply's 4 octets, once received. */
  reply: Buffer | undefined
  private buffer: Buffer
  private readonly frames: Frame[]
  private readonly waiters: Array<() => void>
  ended: boolean

  constructor (socket: Socket, serializer: RawSocketSerializer = 'json') {
    this.socket = socket
    this.serializer = SERIALIZERS[serializer]
    this.reply = undefined
    this.buffer = Buffer.alloc(0)
    this.frames = []
    this.waiters = []
    this.ended = false
    socket.on('data', (chunk: Buffer) => this.received(chunk))
    socket.on('close', () => { this.ended = true; this.wake() })
    socket.on('error', () => {})
  }

  /** Sends a handshake (default: magic, max length 2^24, the serializer) and waits for the reply's 4 octets. */
  async handshake (octets?: number[]): Promise<Buffer> {
    const id = SERIALIZER_IDS[this.serializer.id as RawSocketSerializer]
    this.socket.write(Buffer.from(octets ?? [0x7f, 0xf0 | id, 0, 0]))
    await this.waitFor(() => this.reply !== undefined || this.ended)
    if (this.reply === undefined) throw new Error('connection ended without a handshake reply')
    return this.reply
  }

  /** Encodes and sends a WAMP message as one frame. */
  send (msg: unknown[]): void {
    this.sendFrame(0, Buffer.from(this.serializer.encode(msg)))
  }

  sendFrame (type: number, payload: Buffer): void {
    this.socket.write(prefix(type, payload.length))
    this.socket.write(payload)
  }

  /** The next frame of any type. */
  async nextFrame (): Promise<Frame> {
    await this.waitFor(() => this.frames.length > 0 || this.ended)
    const frame = this.frames.shift()
    if (frame === undefined) throw new Error('connection ended')
    return frame
  }

  /** The next WAMP message (PONGs and PINGs are skipped). */
  async next (): Promise<unknown[]> {
    for (;;) {
      const frame = await this.nextFrame()
      if (frame.type === 0) return this.serializer.decode(frame.payload) as unknown[]
    }
  }

  async nextOfType (type: number): Promise<unknown[]> {
    for (;;) {
      const msg = await this.next()
      if (msg[0] === type) return msg
    }
  }

  /** Resolves once the server has ended the connection. */
  async expectEnd (): Promise<void> {
    await this.waitFor(() => this.ended)
  }

  close (): void {
    this.socket.destroy()
  }

  private received (chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk])
    if (this.reply === undefined) {
      if (this.buffer.length < 4) return
      this.reply = this.buffer.subarray(0, 4)
      this.buffer = this.buffer.subarray(4)
    }
    while (this.buffer.length >= 4) {
      const head = this.buffer.readUInt32BE(0)
      const length = (head & 0x08000000) !== 0 ? 2 ** 24 : head & 0xffffff
      if (this.buffer.length < 4 + length) break
      this.frames.push({ type: (head >>> 24) & 0x07, payload: this.buffer.subarray(4, 4 + length) })
      this.buffer = this.buffer.subarray(4 + length)
    }
    this.wake()
  }

  private wake (): void {
    for (const w of this.waiters.splice(0)) w()
  }

  private async waitFor (check: () => boolean): Promise<void> {
    while (!check()) await new Promise<void>((resolve) => this.waiters.push(resolve))
  }
}

export function prefix (type: number, length: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(((type << 24) | length) >>> 0)
  return b
}

/** Connects, does the handshake and HELLO; resolves with the client and WELCOME. */
export async function connectRawSocket (target: Target, serializer: RawSocketSerializer = 'json', realm = 'realm1'): Promise<{ client: RawSocketClient, welcome: unknown[] }> {
  const client = new RawSocketClient(await openSocket(target), serializer)
  await client.handshake()
  client.send([MSG.HELLO, realm, DEFAULT_HELLO_DETAILS])
  const welcome = await client.next()
  return { client, welcome }
}
