import { MessageType as T, withPayload } from '../wire/messages.js'
import type { Details, Kwargs } from '../wire/messages.js'
import type { Serializer } from '../wire/serializers/index.js'
import type { Session } from '../session/session.js'
import type { Counters } from '../metrics.js'
import type { PublishFilter } from './publish-filter.js'
import type { Subscription } from './subscription.js'
import { peerLog } from '../session/peer-log.js'

// One publication to one subscription's sessions on this instance: the EVENT is built once and encoded once per
// serializer, and the same bytes go to every subscriber that the filter admits; a subscriber whose retained events
// are still being fetched gets it later, in order (lib/pubsub/retention.ts).

/**
 * Sends the EVENT to the subscription's open sessions that `filter` admits, or only to `only`; returns the number
 * of EVENTs sent.
 */
export function deliver (counters: Counters, subscription: Subscription, publicationId: number, details: Details,
  args: unknown[] | undefined, kwargs: Kwargs | undefined, only: Session | undefined, filter: PublishFilter | undefined): number {
  const awaiting = subscription.awaiting
  if (only !== undefined) {
    if (!subscription.sessions.has(only) || !only.isOpen || (filter !== undefined && !filter.admits(only))) return 0
    const held = awaiting?.get(only)
    if (held !== undefined) {
      held.push(withPayload([T.EVENT, subscription.id, publicationId, details, args, kwargs]))
      return 0
    }
    if (!only.send(withPayload([T.EVENT, subscription.id, publicationId, details, args, kwargs]))) return 0
    counters.events++
    return 1
  }
  const msg = withPayload([T.EVENT, subscription.id, publicationId, details, args, kwargs])
  // One encode per serializer: nearly always one or two, so a pair of slots beats a Map.
  let s1: Serializer | undefined; let d1: string | Buffer | undefined
  let s2: Serializer | undefined; let d2: string | Buffer | undefined
  let sent = 0
  let tooLarge: Session | undefined
  for (const session of subscription.sessions) {
    if (!session.isOpen || (filter !== undefined && !filter.admits(session))) continue
    if (awaiting !== undefined) {
      const held = awaiting.get(session)
      if (held !== undefined) { held.push(msg); continue }
    }
    const transport = session.transport
    const serializer = transport.serializer
    let data: string | Buffer | undefined
    if (serializer === s1) data = d1
    else if (serializer === s2) data = d2
    else if (s1 === undefined) { s1 = serializer; data = d1 = encodeEvent(serializer, msg, session) } else if (s2 === undefined) { s2 = serializer; data = d2 = encodeEvent(serializer, msg, session) } else data = encodeEvent(serializer, msg, session)
    if (data === undefined) continue
    if (!transport.fits(data)) tooLarge = session
    else if (transport.write(data)) sent++
  }
  counters.events += sent
  if (tooLarge !== undefined) {
    peerLog(tooLarge, 'warn', { topic: subscription.topic, maxPayload: tooLarge.hub.options.maxPayload }, 'fastify-wamp: EVENT larger than maxPayload not sent')
  }
  return sent
}

/**
 * The EVENT for one serializer, text encoded to UTF-8 once for a whole fan-out instead of once per socket; or
 * undefined, logged, when the payload cannot be encoded with it (the subscribers using it get nothing).
 */
function encodeEvent (serializer: Serializer, msg: unknown[], session: Session): string | Buffer | undefined {
  let data: string | Buffer
  try {
    data = serializer.encode(msg)
  } catch (err) {
    session.log.warn({ err, subscription: msg[1], serializer: serializer.id }, 'fastify-wamp: EVENT cannot be encoded for this serializer; its subscribers get nothing')
    return undefined
  }
  return typeof data === 'string' ? Buffer.from(data) : data
}
