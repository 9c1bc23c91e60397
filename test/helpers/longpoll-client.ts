// A raw HTTP long-poll client (WAMP spec "HTTP Longpoll Transport") over fetch: sends exactly the messages given,
// returns exactly what each receive answered. For wire-shape and violation tests.

import { pack, unpack } from 'msgpackr'

export interface LongPoll {
  /** http://host:port/<path> */
  base: string
  transport: string
  protocol: string
}

export interface Answer {
  status: number
  contentType: string | null
  body: Buffer
}

export async function post (url: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    ...(body !== undefined && { body })
  })
  return { status: res.status, contentType: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) }
}

export async function open (base: string, protocols: string[] = ['wamp.2.json'], headers?: Record<string, string>): Promise<LongPoll> {
  const res = await post(base + '/open', JSON.stringify({ protocols }), headers)
  if (res.status !== 200) throw new Error(`open answered ${res.status}: ${res.body.toString()}`)
  const { transport, protocol } = JSON.parse(res.body.toString()) as { transport: string, protocol: string }
  return { base, transport, protocol }
}

function binary (lp: LongPoll): boolean {
  return lp.protocol.startsWith('wamp.2.msgpack')
}

function batched (lp: LongPoll): boolean {
  return lp.protocol.endsWith('.batched')
}

/** Messages → one send body (a batch on a batched protocol). */
export function encode (lp: LongPoll, messages: unknown[][]): Buffer {
  if (!batched(lp)) {
    if (messages.length !== 1) throw new Error('unbatched: one message per send')
    return binary(lp) ? pack(messages[0]) : Buffer.from(JSON.stringify(messages[0]))
  }
  if (!binary(lp)) return Buffer.from(messages.map((m) => JSON.stringify(m) + '\x1e').join(''))
  return Buffer.concat(messages.flatMap((m) => {
    const body = pack(m)
    const length = Buffer.alloc(4)
    length.writeUInt32BE(body.length)
    return [length, body]
  }))
}

/** A receive body → its messages. */
export function decode (lp: LongPoll, body: Buffer): unknown[][] {
  if (!batched(lp)) return [binary(lp) ? unpack(body) as unknown[] : JSON.parse(body.toString()) as unknown[]]
  const out: unknown[][] = []
  if (!binary(lp)) {
    for (const part of body.toString().split('\x1e').slice(0, -1)) out.push(JSON.parse(part) as unknown[])
    return out
  }
  for (let at = 0; at < body.length;) {
    const length = body.readUInt32BE(at)
    out.push(unpack(body.subarray(at + 4, at + 4 + length)) as unknown[])
    at += 4 + length
  }
  return out
}

export async function send (lp: LongPoll, ...messages: unknown[][]): Promise<number> {
  return (await post(`${lp.base}/${lp.transport}/send`, encode(lp, messages))).status
}

/** One receive: its status and the messages it carried. */
export async function receive (lp: LongPoll): Promise<{ status: number, messages: unknown[][], contentType: string | null }> {
  const res = await post(`${lp.base}/${lp.transport}/receive`)
  return { status: res.status, contentType: res.contentType, messages: res.status === 200 ? decode(lp, res.body) : [] }
}

/** Receives until `count` messages came (each receive may carry one, or a batch). */
export async function receiveMessages (lp: LongPoll, count: number): Promise<unknown[][]> {
  const out: unknown[][] = []
  while (out.length < count) {
    const { status, messages } = await receive(lp)
    if (status !== 200 && status !== 204) throw new Error(`receive answered ${status} after ${JSON.stringify(out)}`)
    out.push(...messages)
  }
  return out
}

export async function close (lp: LongPoll): Promise<number> {
  return (await post(`${lp.base}/${lp.transport}/close`)).status
}

export const HELLO_ROLES = { caller: {}, callee: {}, publisher: {}, subscriber: {} }
