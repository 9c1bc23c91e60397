import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { chromium } from 'playwright-core'
import fastifyWamp from '../index.js'
import { startApp, until } from './helpers/app.js'
import { connectAutobahn } from './helpers/clients.js'

/** What the page predicates below use of the browser's document (the tests compile without the DOM library). */
interface PageDocument {
  getElementById (id: string): { textContent: string | null } | null
  querySelector (selector: string): { getAttribute (name: string): string | null } | null
}

// issue 20: the admin dashboard. Its options refuse to leave it open by accident; its routes sit behind the
// preHandler; in headless Chromium the page shows live numbers while clients work, and kills a session.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// The README's screenshot is retaken only on request (UPDATE_SCREENSHOTS=1): a test run must not rewrite tracked files.
const SCREENSHOT = new URL('../docs/images/admin-dashboard.png', import.meta.url).pathname
const UPDATE_SCREENSHOT = process.env.UPDATE_SCREENSHOTS === '1'
const TOKEN = 'Basic ' + Buffer.from('ops:secret').toString('base64')

/** The operator check of the tests: HTTP Basic auth (what the browser sends after the 401 challenge). */
async function operatorOnly (request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.headers.authorization === TOKEN) return
  await reply.code(401).header('www-authenticate', 'Basic realm="wamp-admin"').send({ error: 'operators only' })
}

t.test('issue 20: admin refuses to register without a preHandler or an explicit public: true, and checks its options', async (t) => {
  for (const [admin, message] of [
    [{}, /admin needs a preHandler/],
    [{ path: '/x' }, /admin needs a preHandler/],
    [{ public: false }, /admin needs a preHandler/],
    [{ public: true, path: 'x' }, /admin.path must start with/],
    [{ public: true, interval: 5 }, /admin.interval must be an integer/],
    [{ preHandler: 'yes' }, /admin.preHandler must be a function/],
    [{ public: true, colour: 'red' }, /unknown option "admin.colour"/],
    [true, /admin must be an object/]
  ] as const) {
    const app = Fastify({ logger: false })
    await t.rejects(async () => { await app.register(fastifyWamp, { admin: admin as never }).ready() }, { code: 'FST_WAMP_INVALID_OPTION', message }, JSON.stringify(admin))
    await app.close()
  }
})

t.test('issue 20: every admin route is behind the preHandler; kill needs its header; snapshot lists what is live', async (t) => {
  const { app, port, url } = await startApp(t, { admin: { preHandler: operatorOnly } }, (app) => {
    app.wamp.register('com.add', ([a, b]) => (a as number) + (b as number))
  })
  const base = `http://127.0.0.1:${port}/wamp-admin`
  for (const [method, path] of [['GET', ''], ['GET', '/snapshot'], ['GET', '/events'], ['POST', '/sessions/1/kill']]) {
    const res = await fetch(base + path, { method, headers: { 'x-wamp-admin': 'kill' } })
    t.equal(res.status, 401, `${method} ${path || '/'} without credentials`)
  }
  const page = await fetch(base, { headers: { authorization: TOKEN } })
  t.equal(page.status, 200)
  t.match(page.headers.get('content-security-policy'), /script-src 'nonce-[^']+'/, 'inline code only under a nonce')
  const html = await page.text()
  t.notMatch(html, /<script[^>]+src=|<link[^>]+href=|https?:\/\//, 'self-contained: no external script, stylesheet or URL')
  t.ok(html.length < 30_000, `small (${html.length} characters)`)

  const client = await connectAutobahn(url)
  await client.session.register('client.echo', (args: unknown[] | undefined) => args?.[0])
  await client.session.subscribe('com.news', () => {})
  const snapshot = await (await fetch(base + '/snapshot', { headers: { authorization: TOKEN } })).json() as Record<string, unknown>
  t.match(snapshot, {
    sessions: [{ id: client.session.id, realm: 'realm1', authrole: 'anonymous', protocol: 'wamp.2.json', registrations: 1, subscriptions: 1 }],
    procedures: [{ uri: 'com.add', kind: 'app' }, { uri: 'client.echo', kind: 'client', callees: [client.session.id] }],
    subscriptions: [{ topic: 'com.news', subscribers: [client.session.id] }],
    cluster: { status: 'up', rpc: false },
    stats: { sessions: 1, rates: { callsPerSecond: Number } }
  })
  const kill = (headers: Record<string, string>): Promise<Response> => fetch(`${base}/sessions/${client.session.id}/kill`, { method: 'POST', headers: { authorization: TOKEN, ...headers } })
  t.equal((await kill({})).status, 403, 'no x-wamp-admin header: refused (a cross-site request cannot set it)')
  t.equal(app.wamp.sessions.size, 1)
  t.equal((await kill({ 'x-wamp-admin': 'kill' })).status, 204)
  await until(() => app.wamp.sessions.size === 0, 2000, 'the killed session to end')
  t.equal((await kill({ 'x-wamp-admin': 'kill' })).status, 404, 'gone')
  await client.close().catch(() => {})
})

if (process.env.SKIP_BROWSER === '1') {
  t.comment('SKIP_BROWSER=1: the admin dashboard browser test is skipped')
  t.pass('skipped on request (SKIP_BROWSER=1)')
} else {
  t.test('issue 20: the dashboard in Chromium: live numbers while clients call and publish, inspect and kill a session', async (t) => {
    t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install chromium, or set SKIP_BROWSER=1)`)
    const artifacts = mkdtempSync(join(tmpdir(), 'wamp-admin-'))
    const { app, port, url } = await startApp(t, { realms: [{ name: 'realm1', router: true, broker: true }], admin: { preHandler: operatorOnly, interval: 250 } }, (app) => {
      app.wamp.register('com.add', ([a, b]) => (a as number) + (b as number))
    })
    const worker = await connectAutobahn(url, { serializer: 'msgpack' })
    const listener = await connectAutobahn(url)
    await listener.session.register('com.listener.ping', () => 'pong')
    let events = 0
    await listener.session.subscribe('com.ticks', () => { events++ })
    const state = { running: true }
    const load = (async () => {
      for (let i = 0; state.running; i++) {
        await worker.session.call('com.add', [i, 1])
        await worker.session.call('com.listener.ping')
        worker.session.publish('com.ticks', [i])
        if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      }
    })()
    t.teardown(async () => { state.running = false; await load.catch(() => {}) })

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    t.teardown(() => browser.close())
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, httpCredentials: { username: 'ops', password: 'secret' } })
    const page = await context.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (err) => pageErrors.push(err.message))
    page.on('dialog', (dialog) => { dialog.accept().catch(() => {}) })
    await page.goto(`http://127.0.0.1:${port}/wamp-admin`)

    await page.locator('#conn', { hasText: 'Live' }).waitFor({ timeout: 10_000 })
    await page.locator('#n-sessions', { hasText: /^2$/ }).waitFor()
    t.pass('the page shows both sessions')
    const rate = async (id: string): Promise<number> => Number(await page.locator(id).textContent())
    // Predicates as functions, not strings: Playwright evaluates a string predicate with eval in the page once it has to
    // poll, which the dashboard's CSP (no 'unsafe-eval') refuses — a loaded run failed there with an EvalError.
    await page.waitForFunction(() => {
      const d = (globalThis as unknown as { document: PageDocument }).document
      return Number(d.getElementById('n-calls')?.textContent) > 0 && Number(d.getElementById('n-events')?.textContent) > 0
    })
    t.ok(await rate('#n-calls') > 0, 'calls/s moves while the worker calls')
    t.ok(await rate('#n-events') > 0, 'events/s moves while the worker publishes')
    t.ok(events > 0)
    await page.waitForFunction(() => {
      const d = (globalThis as unknown as { document: PageDocument }).document
      return (d.querySelector('#c-calls polyline')?.getAttribute('points') ?? '').split(' ').length >= 3
    })
    t.pass('the calls chart draws a line')
    await page.locator('#procedures tr', { hasText: 'com.listener.ping' }).filter({ hasText: String(listener.session.id) }).waitFor()
    await page.locator('#subscriptions tr', { hasText: 'com.ticks' }).filter({ hasText: String(listener.session.id) }).waitFor()
    t.pass('registrations and subscriptions with their sessions')
    await page.locator('#instances tr', { hasText: 'this instance' }).waitFor()

    // Filter, then inspect the listener.
    await page.getByLabel('Filter sessions').fill('wamp.2.msgpack')
    await page.locator('#sessions tr').filter({ hasText: String(worker.session.id) }).waitFor()
    t.equal(await page.locator('#sessions tr').count(), 1, 'the filter leaves the msgpack worker only')
    await page.getByLabel('Filter sessions').fill('')
    await page.getByRole('button', { name: `Inspect session ${listener.session.id}` }).click()
    await page.locator('#inspect-fields', { hasText: 'com.listener.ping' }).waitFor()
    t.pass('inspecting a session lists what it registered')
    if (UPDATE_SCREENSHOT) {
      mkdirSync(new URL('../docs/images/', import.meta.url), { recursive: true })
      await page.screenshot({ path: SCREENSHOT, fullPage: true })
    }
    await page.screenshot({ path: join(artifacts, 'admin-live.png'), fullPage: true })

    // Kill the listener from the page (the load stops first: its routed calls would find no callee).
    state.running = false
    await load
    const victim = listener.session.id as number
    await page.getByRole('button', { name: `Kill session ${victim}` }).click()
    await page.locator('#notice', { hasText: `Session ${victim} killed.` }).waitFor()
    await until(() => !app.wamp.sessions.has(victim), 3000, 'the killed session to leave')
    await page.locator(`#sessions tr[data-key="${victim}"]`).waitFor({ state: 'detached' })
    await page.locator('#inspect-title', { hasText: `Session ${victim} has ended` }).waitFor()
    await page.locator('#n-sessions', { hasText: /^1$/ }).waitFor()
    t.pass('the killed session is gone from the server and the page')
    await page.screenshot({ path: join(artifacts, 'admin-after-kill.png'), fullPage: true })
    t.comment(`screenshots: ${UPDATE_SCREENSHOT ? `${SCREENSHOT}, ` : ''}${artifacts}`)
    t.same(pageErrors, [], 'no script errors in the page')
    await worker.close()
    await listener.close().catch(() => {})
  })
}
