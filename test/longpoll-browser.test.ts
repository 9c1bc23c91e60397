import t from 'tap'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { startApp, until } from './helpers/app.js'
import { autobahnBundle } from './helpers/autobahn-browser.js'

// autobahn-js in headless Chromium (Debian's package, as in browser.test.ts) with WebSocket removed from the page:
// it falls back to its long-poll transport, and calls, subscribes, answers a call from the server and leaves.
// SKIP_BROWSER=1 skips it explicitly; a missing Chromium otherwise fails the test.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

const PAGE = '<!doctype html><meta charset="utf-8"><title>long-poll</title><script src="/autobahn.js"></script>'

interface PageConnection {
  onopen: (session: BrowserSession, details: Record<string, unknown>) => void
  onclose: (reason: string, details: Record<string, unknown>) => boolean
  open: () => void
  close: () => void
  transport: { info: { type: string, protocol: string } }
}

/** The page's global scope (the test's tsconfig has no DOM types). */
interface PageGlobal {
  autobahn: { Connection: new (options: Record<string, unknown>) => PageConnection }
  lp: { connection: PageConnection, session: BrowserSession, events: unknown[], closed?: string }
  WebSocket?: unknown
}

interface BrowserSession {
  id: number
  call: (uri: string, args?: unknown[]) => Promise<unknown>
  subscribe: (topic: string, handler: (args: unknown[]) => void) => Promise<unknown>
  register: (uri: string, handler: (args: unknown[]) => unknown) => Promise<unknown>
}

if (process.env.SKIP_BROWSER === '1') {
  t.pass('skipped on request (SKIP_BROWSER=1)')
} else {
  t.test('autobahn-js in Chromium without WebSocket falls back to long-poll: call, subscribe, callee, goodbye', async (t) => {
    t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install chromium, or set SKIP_BROWSER=1)`)
    const script = await autobahnBundle()
    const { app, port } = await startApp(t, { longPoll: { path: '/lp', pollTimeout: 5000, idleTimeout: 10_000 } }, (app) => {
      app.wamp.register('com.example.add', (args) => (args[0] as number) + (args[1] as number))
      app.get('/', (_request, reply) => reply.type('text/html').send(PAGE))
      app.get('/autobahn.js', (_request, reply) => reply.type('text/javascript').send(script))
    })
    const base = `http://127.0.0.1:${port}`
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    t.teardown(() => browser.close())
    const page: Page = await browser.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (err) => pageErrors.push(err.message))
    // As behind a proxy that breaks WebSockets, or in a browser without them: the page has no WebSocket at all.
    await page.addInitScript(() => { delete (globalThis as unknown as PageGlobal).WebSocket })
    await page.goto(base + '/')
    t.equal(await page.evaluate(() => 'WebSocket' in globalThis), false, 'the page has no WebSocket')

    const opened = await page.evaluate(({ ws, lp }) => new Promise<{ id: number, type: string, protocol: string }>((resolve, reject) => {
      const window = globalThis as unknown as PageGlobal
      const connection = new window.autobahn.Connection({
        realm: 'realm1',
        transports: [{ type: 'websocket', url: ws }, { type: 'longpoll', url: lp }],
        max_retries: 0
      })
      window.lp = { connection, session: undefined as unknown as BrowserSession, events: [] }
      connection.onopen = (session) => {
        window.lp.session = session
        resolve({ id: session.id, type: connection.transport.info.type, protocol: connection.transport.info.protocol })
      }
      connection.onclose = (reason) => {
        window.lp.closed = reason
        reject(new Error(`closed: ${reason}`))
        return true
      }
      connection.open()
    }), { ws: `ws://127.0.0.1:${port}/ws`, lp: `${base}/lp` })
    t.match(opened, { type: 'longpoll', protocol: 'wamp.2.json' }, 'autobahn chose its long-poll transport')
    const session = app.wamp.sessions.get(opened.id)
    t.equal(session?.transport.kind, 'longpoll', 'the server sees a long-poll session')

    t.equal(await page.evaluate(() => (globalThis as unknown as PageGlobal).lp.session.call('com.example.add', [19, 23])), 42, 'a call')

    await page.evaluate(() => (globalThis as unknown as PageGlobal).lp.session.subscribe('com.example.news', (args) => { (globalThis as unknown as PageGlobal).lp.events.push(args[0]) }))
    await until(() => session?.hasSubscription('com.example.news') === true, 5000, 'the subscription')
    app.wamp.publishToAll('com.example.news', ['one'])
    app.wamp.publishToAll('com.example.news', ['two'])
    await page.waitForFunction(() => (globalThis as unknown as PageGlobal).lp.events.length === 2, undefined, { timeout: 10_000 })
    t.same(await page.evaluate(() => (globalThis as unknown as PageGlobal).lp.events), ['one', 'two'], 'events, in order')

    await page.evaluate(() => (globalThis as unknown as PageGlobal).lp.session.register('com.page.upper', (args) => String(args[0]).toUpperCase()))
    await until(() => session?.hasRegistration('com.page.upper') === true, 5000, 'the registration')
    t.same(await session?.call('com.page.upper', ['quiet']), { args: ['QUIET'], kwargs: {} }, 'the server calls the page')

    await page.evaluate(() => { (globalThis as unknown as PageGlobal).lp.connection.close() })
    await until(() => app.wamp.sessions.size === 0, 5000, 'the page\'s session to end')
    await page.waitForFunction(() => (globalThis as unknown as PageGlobal).lp.closed !== undefined, undefined, { timeout: 5000 })
    t.equal(await page.evaluate(() => (globalThis as unknown as PageGlobal).lp.closed), 'closed', 'autobahn saw a clean close')
    t.same(pageErrors, [], 'no script errors in the page')
  })
}
