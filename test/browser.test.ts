import t from 'tap'
import { existsSync, mkdirSync } from 'node:fs'
import { chromium } from 'playwright-core'
import type { Browser } from 'playwright-core'
import { buildBrowserApp } from '../examples/browser-app.js'
import { until } from './helpers/app.js'

// The browser example end to end in headless Chromium (Debian's package, installed by .ci/run): what a person
// sees after each step. SKIP_BROWSER=1 skips it explicitly; a missing Chromium otherwise fails the test.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARTIFACTS = new URL('./artifacts/', import.meta.url)

if (process.env.SKIP_BROWSER === '1') {
  t.comment('SKIP_BROWSER=1: the browser example test is skipped')
  t.pass('skipped on request (SKIP_BROWSER=1)')
} else {
  t.test('browser example: typed call, HTTP-pushed news, and a procedure the server calls', async (t) => {
    t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install chromium, or set SKIP_BROWSER=1)`)
    const app = await buildBrowserApp({ logger: false })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const base = `http://127.0.0.1:${port}`
    t.teardown(() => app.close())
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    t.teardown(() => browser.close())
    const page = await browser.newPage({ viewport: { width: 1100, height: 560 } })
    const pageErrors: string[] = []
    page.on('pageerror', (err) => pageErrors.push(err.message))

    await page.goto(base + '/')
    const status = page.locator('#status')
    await status.filter({ hasText: /^Connected — session \d+$/ }).waitFor({ timeout: 10_000 })
    t.equal(app.wamp.sessions.size, 1, 'the page holds one WAMP session')
    const sessionId = [...app.wamp.sessions.keys()][0]
    t.equal(await status.textContent(), `Connected — session ${sessionId}`, 'the page shows its session id')

    // 1. The typed procedure: the server's validation error, then a result.
    await page.fill('#a', '19')
    await page.fill('#b', 'three')
    await page.click('#add-form button')
    await page.locator('#add-result.error', { hasText: 'Error: wamp.error.invalid_argument' }).waitFor()
    t.pass('a schema violation is shown as the WAMP error')
    await page.fill('#b', '23')
    await page.click('#add-form button')
    await page.locator('#add-result:not(.error)', { hasText: '19 + 23 = 42' }).waitFor()
    t.pass('the result of com.example.add is shown')

    // 2. News: pushed by an HTTP route (from outside, and from the page's own form).
    const res = await fetch(`${base}/api/notify`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'Release 1.0 is out' })
    })
    t.same(await res.json(), { delivered: 1 })
    await page.locator('#news-list li', { hasText: 'Release 1.0 is out' }).waitFor()
    t.equal(await page.locator('#news-list .empty').count(), 0, 'the placeholder is gone')
    await page.fill('#news-text', 'Posted from the page')
    await page.click('#news-form button')
    await page.locator('#news-list li').first().filter({ hasText: 'Posted from the page' }).waitFor()
    t.same(await page.locator('#news-list li').evaluateAll((items) => items.map((li) => li.firstChild?.textContent)),
      ['Posted from the page', 'Release 1.0 is out'], 'newest first')

    // 3. The server calls the page's procedure and answers the HTTP request with the page's answer.
    await page.fill('#answer', 'green')
    const asked = await fetch(`${base}/api/ask-browser`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ question: 'Favourite colour?' })
    })
    t.same(await asked.json(), { answers: [{ session: sessionId, answer: 'green' }] }, 'the server got the page\'s answer')
    await page.locator('#question', { hasText: 'Server asked “Favourite colour?” — answered “green”' }).waitFor()
    t.pass('the page shows the question it was asked')

    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: new URL('browser.png', ARTIFACTS).pathname, fullPage: true })
    t.same(pageErrors, [], 'no script errors in the page')

    await page.close()
    await until(() => app.wamp.sessions.size === 0, 2000, 'the page\'s session to end')
    t.pass('closing the page ends its session')
  })
}
