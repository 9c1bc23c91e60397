import type { WampStats } from '../types/stats.js'

/**
 * `fastify.wamp.stats()` in the Prometheus text exposition format (version 0.0.4), without prom-client. Serve it
 * from a route of yours with content type `text/plain; version=0.0.4` (docs/observability.md).
 */
export function prometheusText (stats: WampStats): string {
  const out: string[] = []
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Record<string, string>, number]>): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    for (const [labels, value] of samples) out.push(`${name}${labelText(labels)} ${value}`)
  }
  const sessions: Array<[Record<string, string>, number]> = []
  for (const [realm, roles] of Object.entries(stats.sessionsByRealm)) {
    for (const [authrole, n] of Object.entries(roles)) sessions.push([{ realm, authrole }, n])
  }
  const c = stats.counters
  metric('fastify_wamp_connections', 'gauge', 'WebSocket connections, welcomed or not.', [[{}, stats.connections]])
  metric('fastify_wamp_sessions', 'gauge', 'Open WAMP sessions by realm and authrole.', sessions)
  metric('fastify_wamp_registrations', 'gauge', 'Client registrations, counted per callee session.', [[{}, stats.registrations]])
  metric('fastify_wamp_subscriptions', 'gauge', 'Client subscriptions, counted per subscriber session.', [[{}, stats.subscriptions]])
  metric('fastify_wamp_calls_in_flight', 'gauge', 'Calls in flight by direction.',
    [[{ direction: 'in' }, stats.callsInFlight], [{ direction: 'out' }, stats.invocationsInFlight]])
  metric('fastify_wamp_buffered_bytes', 'gauge', 'Bytes queued in the sockets\' send buffers.', [[{}, stats.bufferedBytes]])
  metric('fastify_wamp_calls_total', 'counter', 'Calls by kind: client to app, app to client, client to client (routed).',
    [[{ kind: 'client_to_app' }, c.calls], [{ kind: 'app_to_client' }, c.invocations], [{ kind: 'routed' }, c.routedCalls]])
  metric('fastify_wamp_call_errors_total', 'counter', 'ERROR answers to client CALLs by error URI.',
    Object.entries(c.errorsByUri).map(([uri, n]) => [{ uri }, n]))
  metric('fastify_wamp_publications_total', 'counter', 'Publications (the app\'s and brokered client PUBLISHes).', [[{}, c.publications]])
  metric('fastify_wamp_events_sent_total', 'counter', 'EVENTs written to sockets on this instance.', [[{}, c.events]])
  metric('fastify_wamp_sessions_opened_total', 'counter', 'WAMP sessions welcomed.', [[{}, c.sessionsOpened]])
  metric('fastify_wamp_sessions_closed_total', 'counter', 'WAMP sessions ended.', [[{}, c.sessionsClosed]])
  metric('fastify_wamp_received_bytes_total', 'counter', 'WebSocket message payload received (text frames in UTF-16 code units).', [[{}, c.bytesIn]])
  metric('fastify_wamp_sent_bytes_total', 'counter', 'WebSocket message payload sent (text frames in UTF-16 code units).', [[{}, c.bytesOut]])
  metric('fastify_wamp_fanout_up', 'gauge', '1 while the fan-out engine is up.', [[{ status: stats.fanout.status }, stats.fanout.status === 'up' ? 1 : 0]])
  metric('fastify_wamp_fanout_publish_failed_total', 'counter', 'Publications that could not reach the other instances.', [[{}, stats.fanout.publishFailed]])
  const latency = stats.latency
  if (latency !== undefined) {
    const name = 'fastify_wamp_call_duration_seconds'
    out.push(`# HELP ${name} Call duration by kind: client to app, app to client, client to client (routed).`, `# TYPE ${name} histogram`)
    for (const [kind, h] of [['client_to_app', latency.clientToApp], ['app_to_client', latency.appToClient], ['routed', latency.routed]] as const) {
      for (let i = 0; i < h.buckets.length; i++) out.push(`${name}_bucket{kind="${kind}",le="${h.buckets[i]}"} ${h.counts[i]}`)
      out.push(`${name}_bucket{kind="${kind}",le="+Inf"} ${h.count}`, `${name}_sum{kind="${kind}"} ${h.sum}`, `${name}_count{kind="${kind}"} ${h.count}`)
    }
  }
  return out.join('\n') + '\n'
}

function labelText (labels: Record<string, string>): string {
  const keys = Object.keys(labels)
  if (keys.length === 0) return ''
  return '{' + keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(',') + '}'
}

function escapeLabel (value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}
