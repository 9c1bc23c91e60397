import type { Details } from './messages.js'

// The options the server reads from a client's CALL, CANCEL and YIELD, with the types the spec gives them
// (CALL.Options.timeout|integer, receive_progress|bool, progress|bool, disclose_me|bool;
// CANCEL.Options.mode|string == "skip" | "kill" | "killnowait"; YIELD.Options.progress|bool). A value of another
// type is the client's mistake, never a default: `{ mode: "kil" }` must not become a kill, nor `{ timeout: "5" }`
// no timeout. A CALL has an answer to carry the refusal (ERROR invalid_argument, as for SUBSCRIBE and PUBLISH
// options); a CANCEL or a YIELD has none, so there it is a protocol violation. Absent is undefined or null
// (msgpack and CBOR clients write an option left unset as nil).

type Check = (value: unknown) => boolean

const boolean: Check = (value) => typeof value === 'boolean'
// Milliseconds, 0 = no timeout; integers beyond 2^53 never decode as integers (lib/wire/serializers/plain-data.ts).
const milliseconds: Check = (value) => typeof value === 'number' && Number.isInteger(value) && value >= 0
const CANCEL_MODES: ReadonlySet<unknown> = new Set(['skip', 'kill', 'killnowait'])
const cancelMode: Check = (value) => CANCEL_MODES.has(value)

type Rules = ReadonlyArray<readonly [name: string, check: Check, expected: string]>

const CALL: Rules = [
  ['timeout', milliseconds, 'an integer ≥ 0 (milliseconds)'],
  ['receive_progress', boolean, 'a boolean'],
  ['progress', boolean, 'a boolean'],
  ['disclose_me', boolean, 'a boolean']
]
const CANCEL: Rules = [['mode', cancelMode, '"skip", "kill" or "killnowait"']]
const YIELD: Rules = [['progress', boolean, 'a boolean']]

function problem (message: string, options: Details, rules: Rules): string | undefined {
  for (const [name, check, expected] of rules) {
    const value = options[name]
    if (value !== undefined && value !== null && !check(value)) return `${message}.Options.${name} must be ${expected}`
  }
  return undefined
}

/** What is wrong with a CALL's options (answered with ERROR invalid_argument), or undefined. */
export function callOptionsProblem (options: Details): string | undefined {
  return problem('CALL', options, CALL)
}

/** What is wrong with a CANCEL's options (a protocol violation), or undefined. */
export function cancelOptionsProblem (options: Details): string | undefined {
  return problem('CANCEL', options, CANCEL)
}

/** What is wrong with a YIELD's options (a protocol violation), or undefined. */
export function yieldOptionsProblem (options: Details): string | undefined {
  return problem('YIELD', options, YIELD)
}
