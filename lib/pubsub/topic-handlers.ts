import type { Kwargs } from '../wire/messages.js'
import { compilePayload } from '../validation.js'
import type { PayloadSchema, PayloadValidator } from '../validation.js'
import { isThenable } from '../thenable.js'
import type { Session } from '../session/session.js'
import type { PublishContext, TopicHandler } from '../../types/pubsub.js'

/** One handler the application gave for a topic, with its payload validator compiled at registration. */
export interface TopicListener { readonly handler: TopicHandler, readonly validator: PayloadValidator | undefined, readonly schema: PayloadSchema | undefined }

/** The application's handlers of client PUBLISHes in one realm (`fastify.wamp.subscribe`), by topic. */
export class TopicHandlers {
  private readonly byTopic: Map<string, TopicListener[]>

  constructor () {
    this.byTopic = new Map()
  }

  get (topic: string): TopicListener[] | undefined {
    return this.byTopic.get(topic)
  }

  listen (topic: string, handler: TopicHandler, schema: PayloadSchema | undefined): void {
    const validator = compilePayload(schema)
    const list = this.byTopic.get(topic)
    if (list === undefined) this.byTopic.set(topic, [{ handler, validator, schema }])
    else list.push({ handler, validator, schema })
  }

  /** The topics the application handles, each with the first schema one of its handlers gave (lib/realm/catalog.ts). */
  * handled (): Generator<[string, PayloadSchema | undefined]> {
    for (const [topic, list] of this.byTopic) yield [topic, list.find((l) => l.schema !== undefined)?.schema]
  }

  unlisten (topic: string, handler?: TopicHandler): void {
    if (handler === undefined) {
      this.byTopic.delete(topic)
      return
    }
    const list = this.byTopic.get(topic)?.filter((l) => l.handler !== handler)
    if (list === undefined || list.length === 0) this.byTopic.delete(topic)
    else this.byTopic.set(topic, list)
  }
}

/**
 * Runs one topic handler on a client publication: sync or async, counted against the publishing session's
 * `maxTopicHandlersPerSession` while it runs; a failure is logged, never thrown.
 */
export function runListener (handler: TopicHandler, args: unknown[], kwargs: Kwargs, ctx: PublishContext, session: Session): void {
  try {
    const result = handler(args, kwargs, ctx)
    if (!isThenable(result)) return
    session.topicHandlers++
    session.hub.pending.add(result.then(() => { session.topicHandlers-- }, (err: unknown) => {
      session.topicHandlers--
      logListenerError(err, ctx)
    }))
  } catch (err) {
    logListenerError(err, ctx)
  }
}

function logListenerError (err: unknown, ctx: PublishContext): void {
  ctx.session.log.error({ err, topic: ctx.topic }, 'fastify-wamp: topic handler failed')
}
