import type { CallContext } from '../rpc/incoming-call.js'
import type { PublishContext } from '../pubsub/broker.js'
import type { ProcedureHandler, ProcedureOptions } from '../rpc/dealer.js'
import type { TopicHandler } from '../pubsub/broker.js'
import type { ArgsOf, KwargsOf, PayloadSchema } from '../validation.js'
import { FST_WAMP_INVALID_OPTION } from '../errors.js'
import type { Realm } from './realm.js'

// Class-based services: methods decorated with @procedure() / @topic() (TC39 decorators, no reflect-metadata)
// become procedures and topic handlers under the service's URI prefix.

interface Marked { kind: 'procedure' | 'topic', name: string | undefined, schema: PayloadSchema | undefined, options: ProcedureOptions | undefined }

const marks = new WeakMap<object, Marked>()

export interface ServiceMemberOptions extends ProcedureOptions {
  /** The URI part after the prefix; defaults to the method's name. */
  name?: string
}

/** Marks a method as a procedure `<prefix>.<name>`; the schema validates and types its arguments. */
export function procedure<S extends PayloadSchema = Record<never, never>> (schema?: S, options?: ServiceMemberOptions) {
  return function <This> (
    method: (this: This, args: ArgsOf<S>, kwargs: KwargsOf<S>, ctx: CallContext<ArgsOf<S>, KwargsOf<S>>) => unknown,
    context: ClassMethodDecoratorContext<This>
  ): void {
    marks.set(method, { kind: 'procedure', name: options?.name ?? String(context.name), schema, options })
  }
}

/** Marks a method as the handler of client PUBLISHes to `<prefix>.<name>`. */
export function topic<S extends PayloadSchema = Record<never, never>> (schema?: S, options?: { name?: string }) {
  return function <This> (
    method: (this: This, args: ArgsOf<S>, kwargs: KwargsOf<S>, ctx: PublishContext) => unknown,
    context: ClassMethodDecoratorContext<This>
  ): void {
    marks.set(method, { kind: 'topic', name: options?.name ?? String(context.name), schema, options: undefined })
  }
}

export function registerService (realm: Realm, instance: object, prefix?: string): void {
  const base = prefix ?? (instance as { prefix?: unknown }).prefix ?? (instance.constructor as { prefix?: unknown }).prefix
  if (typeof base !== 'string' || base.length === 0) {
    throw new FST_WAMP_INVALID_OPTION('a service needs a URI prefix (an argument, or a `prefix` property)')
  }
  let found = 0
  const seen = new Set<string>()
  for (let proto = Object.getPrototypeOf(instance); proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (seen.has(key)) continue // overridden in a subclass: the most derived method decides
      seen.add(key)
      const method = Object.getOwnPropertyDescriptor(proto, key)?.value as unknown
      if (typeof method !== 'function') continue
      const mark = marks.get(method)
      if (mark === undefined) continue
      const uri = `${base}.${mark.name as string}`
      const bound = method.bind(instance) as ProcedureHandler & TopicHandler
      if (mark.kind === 'procedure') realm.register(uri, mark.schema ?? {}, bound, mark.options)
      else realm.subscribe(uri, mark.schema ?? {}, bound)
      found++
    }
  }
  if (found === 0) throw new FST_WAMP_INVALID_OPTION(`the service for "${base}" has no @procedure() or @topic() methods`)
}
