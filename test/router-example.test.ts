import t from 'tap'
import { buildRouterApp } from '../examples/router.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'

// examples/router.ts (the worked example of docs/router.md): a device registers, a browser calls it, and so does
// the app from an HTTP route.
t.test('examples/router.ts: a device (autobahn-js) registers, a browser (wampy.js) calls it, the app too', async (t) => {
  const app = await buildRouterApp({ logger: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const { port } = app.server.address() as { port: number }
  const url = `ws://127.0.0.1:${port}/ws`

  const lamp = { on: false }
  const device = await connectAutobahn(url, { realm: 'home', authid: 'kitchen_lamp', authmethods: ['ticket'], onchallenge: () => 'lamp-secret' })
  t.equal(device.welcome.authrole, 'device')
  await device.session.register('com.home.device.kitchen_lamp.switch', (_args: unknown[], kwargs: Record<string, unknown>) => {
    if (typeof kwargs.on === 'boolean') lamp.on = kwargs.on
    return { on: lamp.on }
  })

  const browser = await connectWampy(url, { realm: 'home' })
  t.equal(browser.welcome.authrole, 'browser')
  const switched = await browser.client.call('com.home.device.kitchen_lamp.switch', { on: true })
  t.same(switched.argsList, [{ on: true }], 'the browser switched the lamp through the app')
  t.equal(lamp.on, true)
  t.same((await browser.client.call('com.home.devices')).argsList, [['kitchen_lamp']], 'the app\'s own procedure sits next to the device\'s')
  const spoof = await browser.client.register('com.home.device.fake.open', () => ({})).then(() => undefined, (e: any) => e)
  t.equal(spoof?.errorUri, 'wamp.error.not_authorized', 'browsers cannot offer device procedures')

  const viaHttp = await fetch(`http://127.0.0.1:${port}/api/devices/kitchen_lamp/switch`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ on: false })
  })
  t.same(await viaHttp.json(), { result: { on: false } }, 'the app calls the device from an HTTP route')
  const missing = await fetch(`http://127.0.0.1:${port}/api/devices/garage_door/open`, { method: 'POST' })
  t.equal(missing.status, 404, 'a device that is not connected: 404')

  const intruder = await connectAutobahn(url, { realm: 'home', authid: 'garage_door', authmethods: ['ticket'], onchallenge: () => 'guess' })
    .then(() => undefined, (e: any) => e)
  t.equal(intruder?.details?.reason, 'wamp.error.authentication_failed', 'a wrong device token is refused')

  t.same(device.errors, [])
  t.same(browser.errors, [])
  await device.close()
  await browser.close()
})
