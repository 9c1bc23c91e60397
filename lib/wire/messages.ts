// WAMP v2 message codes, the wire shape of every message a client may send, and the one place that applies the
// args/kwargs omission rule to outgoing messages.

export type Kwargs = Record<string, unknown>
export type Details = Record<string, unknown>
export type WampMessage = unknown[]

export const MessageType = {
  HELLO: 1, //        [1, Realm|uri, Details|dict]
  WELCOME: 2, //      [2, Session|id, Details|dict]
  ABORT: 3, //        [3, Details|dict, Reason|uri]
  CHALLENGE: 4, //    [4, AuthMethod|string, Extra|dict]
  AUTHENTICATE: 5, // [5, Signature|string, Extra|dict]
  GOODBYE: 6, //      [6, Details|dict, Reason|uri]
  ERROR: 8, //        [8, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, Args|list?, KwArgs|dict?]
  PUBLISH: 16, //     [16, Request|id, Options|dict, Topic|uri, Args|list?, KwArgs|dict?]
  PUBLISHED: 17, //   [17, PUBLISH.Request|id, Publication|id]
  SUBSCRIBE: 32, //   [32, Request|id, Options|dict, Topic|uri]
  SUBSCRIBED: 33, //  [33, SUBSCRIBE.Request|id, Subscription|id]
  UNSUBSCRIBE: 34, // [34, Request|id, SUBSCRIBED.Subscription|id]
  UNSUBSCRIBED: 35, // [35, UNSUBSCRIBE.Request|id]
  EVENT: 36, //       [36, Subscription|id, Publication|id, Details|dict, Args|list?, KwArgs|dict?]
  CALL: 48, //        [48, Request|id, Options|dict, Procedure|uri, Args|list?, KwArgs|dict?]
  CANCEL: 49, //      [49, CALL.Request|id, Options|dict]
  RESULT: 50, //      [50, CALL.Request|id, Details|dict, Args|list?, KwArgs|dict?]
  REGISTER: 64, //    [64, Request|id, Options|dict, Procedure|uri]
  REGISTERED: 65, //  [65, REGISTER.Request|id, Registration|id]
  UNREGISTER: 66, //  [66, Request|id, REGISTERED.Registration|id]
  UNREGISTERED: 67, // [67, UNREGISTER.Request|id]
  INVOCATION: 68, //  [68, Request|id, REGISTERED.Registration|id, Details|dict, Args|list?, KwArgs|dict?]
  INTERRUPT: 69, //   [69, INVOCATION.Request|id, Options|dict]
  YIELD: 70 //        [70, INVOCATION.Request|id, Options|dict, Args|list?, KwArgs|dict?]
} as const

// Spec "IDs": [1, 2^53] (lib/wire/ids.ts has the same check; this module is also built for browsers, without node:crypto).
const MAX_ID = 2 ** 53

type Field = 'id' | 'dict' | 'string' | 'int'
interface Shape {
  readonly name: string
  readonly fields: readonly Field[]
  readonly payload: boolean
  /** Where its Options|dict (or Details) is in the message; 0 for none. */
  readonly options: number
}

function shape (name: string, fields: readonly Field[], payload: boolean): Shape {
  return { name, fields, payload, options: fields.indexOf('dict') + 1 }
}

// Messages a client may send to the server; anything else (WELCOME, RESULT, INVOCATION, …) is a violation.
const clientShapes: Array<Shape | undefined> = []
clientShapes[MessageType.HELLO] = shape('HELLO', ['string', 'dict'], false)
clientShapes[MessageType.ABORT] = shape('ABORT', ['dict', 'string'], false)
clientShapes[MessageType.AUTHENTICATE] = shape('AUTHENTICATE', ['string', 'dict'], false)
clientShapes[MessageType.GOODBYE] = shape('GOODBYE', ['dict', 'string'], false)
clientShapes[MessageType.ERROR] = shape('ERROR', ['int', 'id', 'dict', 'string'], true)
clientShapes[MessageType.PUBLISH] = shape('PUBLISH', ['id', 'dict', 'string'], true)
clientShapes[MessageType.SUBSCRIBE] = shape('SUBSCRIBE', ['id', 'dict', 'string'], false)
clientShapes[MessageType.UNSUBSCRIBE] = shape('UNSUBSCRIBE', ['id', 'id'], false)
clientShapes[MessageType.CALL] = shape('CALL', ['id', 'dict', 'string'], true)
clientShapes[MessageType.CANCEL] = shape('CANCEL', ['id', 'dict'], false)
clientShapes[MessageType.REGISTER] = shape('REGISTER', ['id', 'dict', 'string'], false)
clientShapes[MessageType.UNREGISTER] = shape('UNREGISTER', ['id', 'id'], false)
clientShapes[MessageType.YIELD] = shape('YIELD', ['id', 'dict'], true)

export function isDict (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value)
}

function fieldOk (kind: Field, value: unknown): boolean {
  switch (kind) {
    case 'id': return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_ID
    case 'int': return typeof value === 'number' && Number.isInteger(value)
    case 'string': return typeof value === 'string'
    case 'dict': return isDict(value)
  }
}

const fieldNames: Record<Field, string> = { id: 'an id', int: 'an integer', string: 'a string', dict: 'a dict' }

/** Checks a decoded frame against the wire shape of the client message it claims to be; returns what is wrong. */
export function checkClientMessage (msg: unknown): string | undefined {
  if (!Array.isArray(msg)) return 'a WAMP message must be a list'
  const type = msg[0]
  if (typeof type !== 'number' || !Number.isInteger(type)) return 'the message type must be an integer'
  const shape = clientShapes[type]
  if (shape === undefined) return `message type ${type} is not one a client may send`
  const fields = shape.fields
  const min = fields.length + 1
  const max = shape.payload ? min + 2 : min
  if (msg.length < min || msg.length > max) {
    return `${shape.name} must have ${min === max ? min : `${min} to ${max}`} elements, got ${msg.length}`
  }
  for (let i = 0; i < fields.length; i++) {
    if (!fieldOk(fields[i], msg[i + 1])) return `${shape.name} element ${i + 1} must be ${fieldNames[fields[i]]}`
  }
  if (msg.length > min && !Array.isArray(msg[min])) return `${shape.name} Arguments must be a list`
  if (msg.length > min + 1 && !isDict(msg[min + 1])) return `${shape.name} ArgumentsKw must be a dict`
  // Spec "Payload Passthru Mode": a router that did not announce it must treat its use as a protocol error (its
  // payload, encrypted or foreign, would otherwise go on without the ppt_* attributes that say how to read it).
  if (shape.payload) {
    const scheme = (msg[shape.options] as Record<string, unknown>).ppt_scheme
    if (scheme !== undefined && scheme !== null && scheme !== '') return `${shape.name} uses payload passthru mode (ppt_scheme), which this router does not announce`
  }
  return undefined
}

export function messageName (type: number): string {
  return clientShapes[type]?.name ?? String(type)
}

/**
 * A message written with its args and kwargs as the last two elements (either may be undefined), by the omission
 * rule: empty kwargs are dropped, then empty args unless kwargs follow (where `[]` holds their place). Trimming the
 * full-length literal allocates nothing; appending to a shorter one would grow its store to 20 slots.
 */
export function withPayload (msg: WampMessage): WampMessage {
  const last = msg.length - 1
  const kwargs = msg[last] as Kwargs | undefined
  if (kwargs !== undefined && hasKeys(kwargs)) {
    if (msg[last - 1] === undefined) msg[last - 1] = []
    return msg
  }
  msg.pop()
  const args = msg[last - 1] as unknown[] | undefined
  if (args === undefined || args.length === 0) msg.pop()
  return msg
}

function hasKeys (obj: object): boolean {
  // eslint-disable-next-line no-unreachable-loop -- the first key answers the question
  for (const _ in obj) return true
  return false
}

/** A shared, never-mutated empty dict for outgoing details. */
export const EMPTY: Details = Object.freeze({}) as Details
