import type { Hub } from '../hub.js'
import type { WampSample, WampStats } from '../../types/stats.js'

// What the admin dashboard shows, built from the hub once per update (O(sessions + registrations + subscriptions)).

export interface AdminSession {
  id: number
  realm: string
  authid: string
  authrole: string
  authmethod: string
  protocol: string
  address: string
  connectedAt: string
  registrations: number
  subscriptions: number
  callsInFlight: number
  invocationsInFlight: number
  bytesIn: number
  bytesOut: number
  bufferedBytes: number
}

export interface AdminSnapshot {
  time: number
  stats: Omit<WampStats, 'fanout'> & { fanout: Omit<WampStats['fanout'], 'lastError'> & { lastError: string | undefined } }
  /** The latest samples; the first message of a stream carries the whole history. */
  history: WampSample[]
  sessions: AdminSession[]
  /** Sessions not listed (past admin.maxSessions). */
  sessionsHidden: number
  procedures: Array<{ realm: string, uri: string, match: string, kind: 'app' | 'client', callees: number[] }>
  subscriptions: Array<{ realm: string, topic: string, match: string, subscribers: number[] }>
  cluster: {
    status: string
    rpc: boolean
    instances: Array<{ instance: string, sessions: number, self: boolean }> | undefined
    error: string | undefined
  }
}

export async function adminSnapshot (hub: Hub, maxSessions: number, fullHistory: boolean): Promise<AdminSnapshot> {
  const stats = hub.stats()
  const history = hub.history?.history() ?? []
  const sessions: AdminSession[] = []
  const all = [...hub.sessions.values()]
  for (const s of all.slice(-maxSessions).reverse()) {
    sessions.push({
      id: s.id,
      realm: s.joined?.name ?? '',
      authid: s.authid,
      authrole: s.authrole,
      authmethod: s.authmethod,
      protocol: s.protocol,
      address: s.request?.ip ?? s.transport.remoteAddress ?? '',
      connectedAt: s.connectedAt.toISOString(),
      registrations: s.registrations.size,
      subscriptions: s.subscriptions.size,
      callsInFlight: s.calls.size,
      invocationsInFlight: s.invocations.size,
      bytesIn: s.transport.bytesIn,
      bytesOut: s.transport.bytesOut,
      bufferedBytes: s.transport.buffered
    })
  }
  const procedures: AdminSnapshot['procedures'] = []
  const subscriptions: AdminSnapshot['subscriptions'] = []
  for (const realm of hub.realms.values()) {
    for (const p of realm.dealer.procedures.values()) {
      if (!p.uri.startsWith('wamp.')) procedures.push({ realm: realm.name, uri: p.uri, match: p.match, kind: 'app', callees: [] })
    }
    for (const r of realm.dealer.registry.byId.values()) {
      procedures.push({ realm: realm.name, uri: r.uri, match: r.match, kind: 'client', callees: r.callees.map((c) => c.session.id) })
    }
    for (const s of realm.broker.byId.values()) {
      subscriptions.push({ realm: realm.name, topic: s.topic, match: s.match, subscribers: [...s.sessions].map((x) => x.id) })
    }
  }
  let instances: AdminSnapshot['cluster']['instances']
  let error: string | undefined
  if (hub.fanout.clusterInstances !== undefined) {
    try {
      instances = await hub.fanout.clusterInstances()
    } catch (err) {
      error = (err as Error).message
    }
  }
  return {
    time: Date.now(),
    stats: { ...stats, fanout: { ...stats.fanout, lastError: stats.fanout.lastError?.message } },
    history: fullHistory ? history : history.slice(-1),
    sessions,
    sessionsHidden: Math.max(0, all.length - maxSessions),
    procedures,
    subscriptions,
    cluster: { status: hub.fanout.status, rpc: hub.cluster !== undefined, instances, error: error ?? stats.fanout.lastError?.message }
  }
}
