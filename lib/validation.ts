import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Kwargs } from './wire/messages.js'
import { ErrorUri } from './wire/uris.js'
import { WampError } from './wire/wamp-error.js'

/** The shape of one WAMP payload: positional and keyword arguments, each optional. */
export interface ArgsSchema {
  /** The positional arguments, usually `Type.Tuple([...])` or `Type.Array(...)`. */
  args?: TSchema
  /** The keyword arguments, usually `Type.Object({...})`. */
  kwargs?: TSchema
}

/** An error a procedure may answer with: a description, or one with the shape of the ERROR's payload. */
export type ErrorSchema = string | (ArgsSchema & { description?: string })

/**
 * What a procedure or topic handler's arguments must look like; each part is optional. `args` and `kwargs` are
 * checked on every CALL / PUBLISH. `result`, `description` and `errors` describe the procedure for reflection and
 * the API document (docs/reflection.md); they cost nothing per call — a result is only checked when asked for.
 */
export interface PayloadSchema extends ArgsSchema {
  /** The result's payload (RESULT args and kwargs), e.g. `{ args: Type.Tuple([Type.Number()]) }`. */
  result?: ArgsSchema
  /** One or more sentences for humans (reflection, the API document). */
  description?: string
  /** The application errors the procedure may answer with, by error URI. */
  errors?: Record<string, ErrorSchema>
}

export type ArgsOf<S> = S extends { args: infer A extends TSchema } ? Static<A> : unknown[]
export type KwargsOf<S> = S extends { kwargs: infer K extends TSchema } ? Static<K> : Kwargs

export interface ValidationIssue { where: 'args' | 'kwargs', path: string, message: string }

type Check = (value: unknown) => boolean
interface Compiled { check: Check, errors: (value: unknown) => Array<{ instancePath: string, message: string }> }

function compile (schema: TSchema): Compiled {
  const validator = Compile(schema)
  return { check: (value) => validator.Check(value), errors: (value) => validator.Errors(value) }
}

/**
 * A payload schema compiled once at registration. `check` is the hot path: it allocates nothing and returns
 * undefined when the payload is valid; only a failure builds the list of issues.
 */
export class PayloadValidator {
  private readonly args: Compiled | undefined
  private readonly kwargs: Compiled | undefined

  constructor (schema: ArgsSchema) {
    this.args = schema.args === undefined ? undefined : compile(schema.args)
    this.kwargs = schema.kwargs === undefined ? undefined : compile(schema.kwargs)
  }

  check (args: unknown[], kwargs: Kwargs): ValidationIssue[] | undefined {
    const argsOk = this.args === undefined || this.args.check(args)
    const kwargsOk = this.kwargs === undefined || this.kwargs.check(kwargs)
    if (argsOk && kwargsOk) return undefined
    const issues: ValidationIssue[] = []
    if (!argsOk) listIssues(issues, 'args', this.args as Compiled, args)
    if (!kwargsOk) listIssues(issues, 'kwargs', this.kwargs as Compiled, kwargs)
    return issues
  }
}

/**
 * Most values (lists, dicts and scalars, at any depth) of a payload part whose validation errors are listed. TypeBox
 * lists errors by walking the whole value, every element, whatever its `maxErrors`: several microseconds per value,
 * so the 500 000 numbers of a 1 MiB frame would hold the event loop for seconds. A larger part that fails gets one
 * issue saying so. (The check itself stops at the first mismatch and costs nothing like that.)
 */
export const MAX_LISTED_VALUES = 1024

function listIssues (issues: ValidationIssue[], where: 'args' | 'kwargs', compiled: Compiled, value: unknown): void {
  if (!within(value, MAX_LISTED_VALUES)) {
    issues.push({ where, path: '', message: `does not match the schema (errors are listed for at most ${MAX_LISTED_VALUES} values)` })
    return
  }
  for (const e of compiled.errors(value)) issues.push({ where, path: e.instancePath, message: e.message })
}

let budget = 0

/** Whether `value` holds at most `max` values, counted until the count passes `max` (so a cycle ends it too). */
function within (value: unknown, max: number): boolean {
  budget = max
  return count(value)
}

function count (value: unknown): boolean {
  if (--budget < 0) return false
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return true
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!count(value[i])) return false
    return true
  }
  for (const key in value) if (!count((value as Record<string, unknown>)[key])) return false
  return true
}

/** One readable line for the ERROR's first argument. */
export function describeIssues (issues: ValidationIssue[]): string {
  const first = issues[0]
  const where = first === undefined ? '' : `${first.where}${first.path}`
  return first === undefined ? 'invalid arguments' : `invalid ${where}: ${first.message}`
}

/** A validator for a schema that constrains something; none for an absent or empty schema (no cost per message). */
export function compilePayload (schema: ArgsSchema | undefined): PayloadValidator | undefined {
  if (schema === undefined || (schema.args === undefined && schema.kwargs === undefined)) return undefined
  return new PayloadValidator(schema)
}

const cached = new WeakMap<ArgsSchema, PayloadValidator>()

/** The validator of a result schema given per call: compiled once per schema object, however many calls use it. */
export function validatorFor (schema: ArgsSchema): PayloadValidator {
  let validator = cached.get(schema)
  if (validator === undefined) cached.set(schema, validator = new PayloadValidator(schema))
  return validator
}

/** What a call rejects with when its result does not match its schema; undefined when it does. */
export function resultError (validator: PayloadValidator | undefined, args: unknown[], kwargs: Kwargs): WampError | undefined {
  const issues = validator?.check(args, kwargs)
  return issues === undefined ? undefined : new WampError(ErrorUri.invalidArgument, [`result: ${describeIssues(issues)}`], { errors: issues })
}
