// A WebSocket client on a bare TCP socket: the upgrade by hand, then exactly the bytes a test builds with `frame()`,
// cut wherever the test likes. It reads the server's frames back (the server does not mask, nor fragment).
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { unpack } from 'msgpackr'

export const OP = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const

export interface FrameSpec {
  opcode: number
  payload: Buffer
  fin?: boolean
  /** Reserved bits, 0–7 (RSV1 = 4). */
  rsv?: number
  /** Default true: clients must mask. */
  masked?: boolean
  mask?: Buffer
  /** Length field: the shortest (default), or 16- or 64-bit however short the payload. */
  lengthForm?: 7 | 16 | 64
  /** A 64-bit length field claiming this instead of the payload's length (the payload still follows). */
  claimedLength?: bigint
}

/** One frame's octets, as a client sends it. */
export function frame (spec: FrameSpec): Buffer {
  const { opcode, payload } = spec
  const masked = spec.masked ?? true
  const length = payload.length
  const form = spec.claimedLength !== undefined ? 64 : spec.lengthForm ?? (length < 126 ? 7 : length < 65536 ? 16 : 64)
  const head = Buffer.alloc(2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (masked ? 4 : 0))
  head[0] = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | opcode
  head[1] = (masked ? 0x80 : 0) | (form === 16 ? 126 : form === 64 ? 127 : length)
  if (form === 16) head.writeUInt16BE(length, 2)
  if (form === 64) head.writeBigUInt64BE(spec.claimedLength ?? BigInt(length), 2)
  if (!masked) return Buffer.concat([head, payload])
  const mask = spec.mask ?? randomBytes(4)
  mask.copy(head, head.length - 4)
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3]
  return Buffer.concat([head, body])
}

export interface ServerFrame { opcode: number, payload: Buffer }

export class FrameClient {
  readonly frames: ServerFrame[] = []
  readonly socket: Socket
  closed = false
  private buffer = Buffer.alloc(0)
  private waiters: Array<() => void> = []

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      this.parse()
    })
    socket.on('close', () => { this.closed = true; this.wake() })
    socket.on('error', () => {})
  }

  /** Connects and upgrades with `protocol`; resolves once the server's 101 is in. */
  static async open (port: number, path = '/ws', protocol = 'wamp.2.json'): Promise<FrameClient> {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true })
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`)
    const rest = await new Promise<Buffer>((resolve, reject) => {
      let head = Buffer.alloc(0)
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        socket.removeListener('data', onData)
        const status = head.subarray(0, end).toString()
        if (!status.startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${status.split('\r\n')[0]}`))
        resolve(head.subarray(end + 4))
      }
      socket.on('data', onData)
    })
    const client = new FrameClient(socket)
    if (rest.length > 0) socket.emit('data', rest)
    return client
  }

  send (bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /** Data frames decoded (text as JSON, binary as msgpack), in order. */
  messages (): unknown[][] {
    return this.frames.filter((f) => f.opcode === OP.text || f.opcode === OP.binary)
      .map((f) => (f.opcode === OP.text ? JSON.parse(f.payload.toString()) : unpack(f.payload)) as unknown[])
  }

  /** The close frame's code, if one came. */
  closeCode (): number | undefined {
    const close = this.frames.find((f) => f.opcode === OP.close)
    return close === undefined ? undefined : close.payload.length >= 2 ? close.payload.readUInt16BE(0) : 1005
  }

  /** Resolves once `check` holds, or rejects after `ms`. */
  async until (check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + ms
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; frames: ${this.frames.map((f) => `${f.opcode}:${f.payload.toString().slice(0, 80)}`).join(' | ')}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  destroy (): void {
    this.socket.destroy()
  }

  private parse (): void {
    for (;;) {
      const b = this.buffer
      if (b.length < 2) break
      let length = b[1] & 0x7f
      let at = 2
      if (length === 126) {
        if (b.length < 4) break
        length = b.readUInt16BE(2)
        at = 4
      } else if (length === 127) {
        if (b.length < 10) break
        length = Number(b.readBigUInt64BE(2))
        at = 10
      }
      if (b.length < at + length) break
      this.frames.push({ opcode: b[0] & 0x0f, payload: Buffer.from(b.subarray(at, at + length)) })
      this.buffer = b.subarray(at + length)
    }
    this.wake()
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }
}
