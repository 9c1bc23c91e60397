import type { Serializer } from './index.js'

// WAMP's JSON serializer carries binary values as a string: "\u0000" followed by the base64 of the bytes.
// Both directions only pay for the conversion when a message really holds binary data.

const MAX_DEPTH = 64

function hasBinary (value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return false
  if (ArrayBuffer.isView(value)) return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (hasBinary(value[i], depth + 1)) return true
    return false
  }
  for (const key in value) if (hasBinary((value as Record<string, unknown>)[key], depth + 1)) return true
  return false
}

function toBinaryString (this: unknown, key: string, value: unknown): unknown {
  // JSON.stringify has already called Buffer#toJSON here; read the original value from the holder.
  const original = (this as Record<string, unknown>)[key]
  if (ArrayBuffer.isView(original)) {
    return '\u0000' + Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64')
  }
  return value
}

function fromBinaryString (_key: string, value: unknown): unknown {
  if (typeof value === 'string' && value.charCodeAt(0) === 0) return Buffer.from(value.slice(1), 'base64')
  return value
}

export const jsonSerializer: Serializer = {
  id: 'json',
  binary: false,
  encode (message) {
    return hasBinary(message, 0) ? JSON.stringify(message, toBinaryString) : JSON.stringify(message)
  },
  decode (data) {
    const text = data.toString('utf8')
    // A NUL character can only appear escaped in JSON text, so this finds every binary value cheaply.
    return text.includes('\\u0000') ? JSON.parse(text, fromBinaryString) : JSON.parse(text)
  }
}
