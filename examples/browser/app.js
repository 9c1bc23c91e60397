/* global Wampy, document, location, fetch */
// The page's WAMP session (wampy.js, JSON over WebSocket): it calls a typed procedure, subscribes to news the
// server publishes from an HTTP route, and registers a procedure the server calls.

const $ = (id) => document.getElementById(id)
const status = $('status')

function setStatus (text, kind) {
  status.textContent = text
  status.className = `status ${kind}`
}

function errorText (err) {
  // wampy rejects with an error carrying the WAMP error URI and its positional arguments.
  const detail = Array.isArray(err.argsList) && typeof err.argsList[0] === 'string' ? ` — ${err.argsList[0]}` : ''
  return `${err.errorUri ?? err.message}${detail}`
}

function asNumber (text) {
  return text.trim() !== '' && !Number.isNaN(Number(text)) ? Number(text) : text
}

async function main () {
  const wampy = new Wampy(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, {
    realm: 'realm1',
    autoReconnect: true,
    onClose: () => setStatus('Disconnected', 'offline'),
    onReconnectSuccess: () => setStatus(`Connected — session ${wampy.getSessionId()}`, 'online')
  })
  await wampy.connect()
  setStatus(`Connected — session ${wampy.getSessionId()}`, 'online')

  // 1. Call a typed procedure and show the result (or the server's validation error).
  const addResult = $('add-result')
  $('add-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    // Whatever is not a number goes as typed, so the server's schema check answers (invalid_argument).
    const a = asNumber($('a').value)
    const b = asNumber($('b').value)
    try {
      const result = await wampy.call('com.example.add', [a, b])
      addResult.textContent = `${a} + ${b} = ${result.argsList[0]}`
      addResult.className = 'result'
    } catch (err) {
      addResult.textContent = `Error: ${errorText(err)}`
      addResult.className = 'result error'
    }
  })

  // 2. Subscribe to news published by POST /api/notify.
  const list = $('news-list')
  await wampy.subscribe('com.example.news', ({ argsList, argsDict }) => {
    list.querySelector('.empty')?.remove()
    const item = document.createElement('li')
    item.textContent = String(argsList?.[0] ?? '')
    if (argsDict?.at) {
      const time = document.createElement('time')
      time.dateTime = argsDict.at
      time.textContent = new Date(argsDict.at).toLocaleTimeString()
      item.append(time)
    }
    list.prepend(item)
  })
  $('news-form').addEventListener('submit', async (event) => {
    event.preventDefault()
    const input = $('news-text')
    if (input.value.trim() === '') return
    await fetch('/api/notify', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: input.value }) })
    input.value = ''
  })

  // 3. Register a procedure the server calls (POST /api/ask-browser → session.call()).
  await wampy.register('com.example.browser.ask', ({ argsList }) => {
    const answer = $('answer').value
    $('question').textContent = `Server asked “${argsList[0]}” — answered “${answer}”`
    return { argsList: [answer] }
  })

  for (const button of document.querySelectorAll('button')) button.disabled = false
}

main().catch((err) => setStatus(`Failed: ${errorText(err)}`, 'offline'))
