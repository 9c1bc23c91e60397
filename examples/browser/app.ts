// The page's WAMP session: wampy.js (JSON over WebSocket) under the typed client of `fastify-wamp/client`, typed by
// the contract the server implements (examples/contract.ts). It calls a procedure, subscribes to news the server
// publishes from an HTTP route, and registers a procedure the server calls. examples/browser-app.ts bundles this file
// for the browser with esbuild when the app starts.
import type { Wampy as WampyClass } from 'wampy'
import { typedClient, wampyAdapter, WampError } from '../../lib/client/index.js'
import { exampleApi, pageApi } from '../contract.js'

// wampy's browser bundle (served at /vendor/wampy.min.js) defines it.
declare const Wampy: typeof WampyClass

const $ = <E extends HTMLElement = HTMLElement>(id: string): E => document.getElementById(id) as E
const status = $('status')

function setStatus (text: string, kind: string): void {
  status.textContent = text
  status.className = `status ${kind}`
}

function errorText (err: unknown): string {
  // The typed client rejects with a WampError: the WAMP error URI and its positional arguments.
  if (!(err instanceof WampError)) return String(err)
  return `${err.uri}${typeof err.args[0] === 'string' ? ` — ${err.args[0]}` : ''}`
}

function asNumber (text: string): number {
  // Whatever is not a number goes as typed (the cast is the point: the server's schema check answers it).
  return (text.trim() !== '' && !Number.isNaN(Number(text)) ? Number(text) : text) as number
}

async function main (): Promise<void> {
  const wampy: WampyClass = new Wampy(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, {
    realm: 'realm1',
    autoReconnect: true,
    onClose: () => setStatus('Disconnected', 'offline'),
    onReconnectSuccess: () => setStatus(`Connected — session ${wampy.getSessionId()}`, 'online')
  })
  await wampy.connect()
  setStatus(`Connected — session ${wampy.getSessionId()}`, 'online')
  const api = typedClient(exampleApi, wampyAdapter(wampy))

  // 1. Call a typed procedure and show the result (or the server's validation error).
  const addResult = $('add-result')
  $('add-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    const a = asNumber($<HTMLInputElement>('a').value)
    const b = asNumber($<HTMLInputElement>('b').value)
    try {
      const { args: [sum] } = await api.call('com.example.add', [a, b])
      addResult.textContent = `${a} + ${b} = ${sum}`
      addResult.className = 'result'
    } catch (err) {
      addResult.textContent = `Error: ${errorText(err)}`
      addResult.className = 'result error'
    }
  })

  // 2. Subscribe to news published by POST /api/notify.
  const list = $('news-list')
  await api.subscribe('com.example.news', ([text], { at }) => {
    list.querySelector('.empty')?.remove()
    const item = document.createElement('li')
    item.textContent = text
    const time = document.createElement('time')
    time.dateTime = at
    time.textContent = new Date(at).toLocaleTimeString()
    item.append(time)
    list.prepend(item)
  })
  $('news-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    const input = $<HTMLInputElement>('news-text')
    if (input.value.trim() === '') return
    await fetch('/api/notify', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: input.value }) })
    input.value = ''
  })

  // 3. Register a procedure the server calls (POST /api/ask-browser → session.call()).
  await typedClient(pageApi, wampyAdapter(wampy)).register('com.example.browser.ask', ([question]) => {
    const answer = $<HTMLInputElement>('answer').value
    $('question').textContent = `Server asked “${question}” — answered “${answer}”`
    return answer
  })

  for (const button of document.querySelectorAll('button')) button.disabled = false
}

main().catch((err) => setStatus(`Failed: ${errorText(err)}`, 'offline'))
