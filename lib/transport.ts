import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { Serializer } from './serializers/index.js'

// The ws glue: frame options, and write batching — every frame a session sends in one tick leaves in one
// writev, because the TCP socket stays corked until the next tick.

const TEXT = { binary: false, compress: false }
const BINARY = { binary: true, compress: false }

export class Transport {
  readonly socket: WebSocket
  readonly serializer: Serializer
  private readonly raw: Socket | undefined
  private readonly frame: { binary: boolean, compress: boolean }
  private corked: boolean

  constructor (socket: WebSocket, serializer: Serializer) {
    this.socket = socket
    this.serializer = serializer
    this.raw = (socket as unknown as { _socket?: Socket })._socket
    this.frame = serializer.binary ? BINARY : TEXT
    this.corked = false
  }

  get open (): boolean {
    return this.socket.readyState === 1
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get buffered (): number {
    return this.socket.bufferedAmount
  }

  encode (message: unknown[]): string | Buffer {
    return this.serializer.encode(message)
  }

  write (data: string | Buffer): void {
    if (this.socket.readyState !== 1) return
    if (!this.corked && this.raw !== undefined) {
      this.corked = true
      this.raw.cork()
      process.nextTick(flush, this)
    }
    this.socket.send(data, this.frame)
  }

  /** Hands every frame written this tick to the kernel at once. */
  flush (): void {
    if (!this.corked) return
    this.corked = false
    if (this.raw !== undefined && !this.raw.destroyed) this.raw.uncork()
  }

  close (code: number, reason?: string): void {
    if (this.socket.readyState > 1) return
    this.socket.close(code, reason)
  }

  terminate (): void {
    this.socket.terminate()
  }
}

function flush (transport: Transport): void {
  transport.flush()
}
