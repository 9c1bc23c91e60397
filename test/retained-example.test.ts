import t from 'tap'
import { buildSensorApp } from '../examples/retained.js'
import { connectAutobahn } from './helpers/clients.js'
import { until } from './helpers/app.js'

// examples/retained.ts (docs/retention-history.md): a dashboard that connects late gets the current readings at once
// and fetches the alerts it missed.
t.test('examples/retained.ts: retained readings for a late dashboard (autobahn-js), missed alerts from the history', async (t) => {
  const app = await buildSensorApp({ logger: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const post = async (sensor: string, celsius: number): Promise<void> => {
    const reply = await fetch(`http://127.0.0.1:${port}/readings/${sensor}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ celsius })
    })
    t.equal(reply.status, 200)
  }
  // A dashboard subscribes to alerts before anything happens (get_events works on its subscription id).
  const early = await connectAutobahn(`ws://127.0.0.1:${port}/ws`, { realm: 'sensors' })
  const alerts = await early.session.subscribe('com.sensors.alert.', () => {}, { match: 'prefix' })
  await post('lab', 21)
  await post('lab', 31)
  await post('attic', 35)
  await post('lab', 22)

  const dashboard = await connectAutobahn(`ws://127.0.0.1:${port}/ws`, { realm: 'sensors' })
  const readings = new Map<string, unknown>()
  await dashboard.session.subscribe('com.sensors.reading.', (args, _kwargs, details) => {
    t.equal(details.retained, true, 'a retained reading')
    readings.set(details.topic, args[0])
  }, { match: 'prefix', get_retained: true })
  await until(() => readings.size === 2)
  t.same(Object.fromEntries(readings), { 'com.sensors.reading.attic': 35, 'com.sensors.reading.lab': 22 }, 'the latest reading of each sensor')

  const missed = await early.session.call<Array<{ args: unknown[], details: { topic: string } }>>('wamp.subscription.get_events', [alerts.id])
  t.same(missed.map((e) => [e.details.topic, e.args[0]]), [['com.sensors.alert.lab', 'lab is at 31 °C'], ['com.sensors.alert.attic', 'attic is at 35 °C']])
  await Promise.all([early.close(), dashboard.close()])
})
