import t from 'tap'
import autobahn from 'autobahn'
import { startApp, until, hubOf } from './helpers/app.js'
import { connectAutobahn, connectWampy } from './helpers/clients.js'
import { connectRaw, MSG } from './helpers/raw-client.js'

// Router mode with the real npm clients: autobahn-js and wampy.js calling each other through the plugin.

type Dict = Record<string, unknown>
interface WampyInvocation { details: Dict, argsList?: unknown[], argsDict?: Dict }
interface WampyResult { argsList?: unknown[], argsDict?: Dict, details?: Dict }
const ROUTER = { realms: [{ name: 'realm1', router: true }] }
const failure = async (p: unknown): Promise<any> => await Promise.resolve(p).then(() => { throw new Error('expected a rejection') }, (e: unknown) => e)

for (const serializer of ['json', 'msgpack'] as const) {
  t.test(`autobahn-js and wampy.js (${serializer}) call each other: results, kwargs, disclosure, errors, progress, patterns`, async (t) => {
    const { url } = await startApp(t, ROUTER)
    const device = await connectAutobahn(url, { serializer })
    const browser = await connectWampy(url, { serializer })
    const seen: Dict[] = []
    await device.session.register('com.device.add', (args: unknown[], kwargs: Dict, details: any) => {
      seen.push({ procedure: details.procedure, caller: details.caller, caller_authrole: details.caller_authrole })
      return new autobahn.Result([(args[0] as number) + (args[1] as number)], { by: 'device', unit: kwargs.unit })
    })
    const sum = await browser.client.call('com.device.add', { argsList: [2, 3], argsDict: { unit: 'V' } }, { disclose_me: true }) as WampyResult
    t.same([sum.argsList, sum.argsDict], [[5], { by: 'device', unit: 'V' }], 'wampy → autobahn: args and kwargs both ways')
    t.same(seen, [{ procedure: 'com.device.add', caller: browser.client.getSessionId(), caller_authrole: 'anonymous' }], 'the callee sees the disclosed caller')

    await browser.client.register('com.browser.confirm', ({ argsList, details }: WampyInvocation) => ({ argsList: [`ok: ${String(argsList?.[0])}`, details.caller ?? null] }))
    t.same(await device.session.call('com.browser.confirm', ['reboot?']), new autobahn.Result(['ok: reboot?', null]), 'autobahn → wampy; no disclosure unless asked')

    await device.session.register('com.device.print', () => { throw new autobahn.Error('com.device.error.jammed', ['paper'], { tray: 2 }) })
    const jammed = await failure(browser.client.call('com.device.print'))
    t.same([jammed.errorUri, jammed.argsList, jammed.argsDict], ['com.device.error.jammed', ['paper'], { tray: 2 }], 'the callee\'s error reaches wampy intact')
    await browser.client.register('com.browser.fail', () => { throw Object.assign(new Error('no'), { error: 'com.browser.error.denied', argsList: ['nope'], argsDict: { why: 'user' } }) })
    const denied = await failure(device.session.call('com.browser.fail'))
    t.same([denied.error, denied.args, denied.kwargs], ['com.browser.error.denied', ['nope'], { why: 'user' }], 'and autobahn')

    await device.session.register('com.device.count', (args: unknown[], _k: Dict, details: any) => {
      for (let i = 1; i <= (args[0] as number); i++) details.progress([i])
      return 'counted'
    })
    const progress: unknown[] = []
    const counted = await browser.client.call('com.device.count', [3], { progress_callback: (r: WampyResult) => { progress.push(r.argsList?.[0]) } }) as WampyResult
    t.same([counted.argsList, progress], [['counted'], [1, 2, 3]], 'autobahn\'s progressive results stream to wampy')
    const abProgress: unknown[] = []
    const pending = device.session.call('com.device.count', [2], {}, { receive_progress: true }) as unknown as
      Promise<unknown> & { progress (cb: (p: unknown) => void): Promise<unknown> }
    t.equal(await pending.progress((p) => { abProgress.push(p) }), 'counted')
    t.same(abProgress, [1, 2], '…and to autobahn itself, through the router')

    await device.session.register('com.device.lamp.', (_a: unknown[], _k: Dict, details: any) => details.procedure, { match: 'prefix' })
    await device.session.register('com.device..status', (_a: unknown[], _k: Dict, details: any) => `wild ${String(details.procedure)}`, { match: 'wildcard' })
    t.same((await browser.client.call('com.device.lamp.kitchen') as WampyResult).argsList, ['com.device.lamp.kitchen'], 'prefix: details.procedure is the concrete URI')
    t.same((await browser.client.call('com.device.lamp.status') as WampyResult).argsList, ['com.device.lamp.status'], 'a prefix beats a wildcard')
    t.same((await browser.client.call('com.device.fan.status') as WampyResult).argsList, ['wild com.device.fan.status'])

    t.same(device.errors.filter((e) => e.kind !== 'user'), [], 'autobahn saw no protocol error (the jammed printer is its own)')
    t.same(browser.errors, [])
    await device.close()
    await browser.close()
  })
}

t.test('three clients: an autobahn and a wampy callee share a roundrobin registration; a callee that leaves mid-call', async (t) => {
  const { url, app } = await startApp(t, ROUTER)
  const ab = await connectAutobahn(url, { serializer: 'msgpack' })
  const wy = await connectWampy(url, { serializer: 'cbor' })
  const caller = await connectAutobahn(url)
  await ab.session.register('com.worker.job', () => 'autobahn', { invoke: 'roundrobin' })
  await wy.client.register('com.worker.job', () => ({ argsList: ['wampy'] }), { invoke: 'roundrobin' })
  const who: unknown[] = []
  for (let i = 0; i < 4; i++) who.push(await caller.session.call('com.worker.job'))
  t.same(who, ['autobahn', 'wampy', 'autobahn', 'wampy'])
  const single = await failure(wy.client.register('com.worker.solo', () => ({}), { invoke: 'random' }).then(() => ab.session.register('com.worker.solo', () => 1)))
  t.equal(single.error, 'wamp.error.procedure_exists_with_different_invocation_policy', 'autobahn is told why it cannot join')

  let started = 0
  await wy.client.register('com.worker.slow', () => { started++; return new Promise(() => {}) })
  const waiting = [caller.session.call('com.worker.slow'), ab.session.call('com.worker.slow')]
  await until(() => started === 2)
  const failures = waiting.map(failure)
  await wy.close()
  for (const p of failures) t.equal((await p).error, 'wamp.error.canceled', 'each caller gets canceled at once')
  t.equal(await caller.session.call('com.worker.job'), 'autobahn', 'the registration lives on with its other callee')
  t.equal(hubOf(app).realm('realm1').dealer.registry.find('com.worker.slow', 'exact'), undefined, 'the leaver\'s own registration is gone')
  t.same([...ab.errors, ...caller.errors, ...wy.errors], [])
  await ab.close()
  await caller.close()
})

t.test('cancel and timeout between real clients: neither callee announced call_canceling, so it never sees INTERRUPT', async (t) => {
  const { url } = await startApp(t, ROUTER)
  const ab = await connectAutobahn(url)
  const wy = await connectWampy(url, { serializer: 'msgpack' })
  let wyStarted = 0
  let abStarted = 0
  await wy.client.register('com.wy.forever', () => { wyStarted++; return new Promise(() => {}) })
  await ab.session.register('com.ab.slow', () => { abStarted++; return new Promise((resolve) => setTimeout(() => resolve('late'), 80)) })

  const call = ab.session.call('com.wy.forever')
  await until(() => wyStarted === 1)
  call.cancel({ mode: 'kill' })
  t.equal((await failure(call)).error, 'wamp.error.canceled', 'autobahn kill-cancel ends at once (skip for this callee)')

  for (const mode of ['skip', 'kill', 'killnowait'] as const) {
    const pending = wy.client.call('com.ab.slow', [mode])
    const reqId = wy.client.getOpStatus().reqId as number
    await until(() => abStarted > 0)
    wy.client.cancel(reqId, { mode })
    t.equal((await failure(pending)).errorUri, 'wamp.error.canceled', `wampy ${mode}`)
  }
  t.equal((await failure(wy.client.call('com.ab.slow', [], { timeout: 20 }))).errorUri, 'wamp.error.timeout', 'wampy timeout through the router')
  await new Promise((resolve) => setTimeout(resolve, 120))
  t.same(ab.errors, [], 'autobahn got no INTERRUPT and its late YIELDs were dropped quietly')
  t.same(wy.errors, [], 'wampy got no INTERRUPT')
  t.equal(await ab.session.call('com.ab.slow'), 'late', 'both still work')
  await ab.close()
  await wy.close()
})

t.test('wampy.js progressiveCall streams through the router to a callee that takes progressive invocations', async (t) => {
  const { url } = await startApp(t, ROUTER)
  const features = { progressive_call_invocations: true, call_canceling: true, progressive_call_results: true }
  const { client: callee } = await connectRaw(url, { details: { roles: { callee: { features } } } })
  callee.send([MSG.REGISTER, 1, {}, 'com.sum.stream'])
  const reg = (await callee.next())[2]
  const wy = await connectWampy(url)
  const { result, sendData } = wy.client.progressiveCall('com.sum.stream', [1, 2])
  const first = await callee.next()
  t.same(first.slice(2), [reg, { procedure: 'com.sum.stream', progress: true }, [1, 2]])
  sendData([3])
  sendData([4], { progress: false })
  t.same(await callee.next(), [MSG.INVOCATION, first[1], reg, { procedure: 'com.sum.stream', progress: true }, [3]])
  t.same(await callee.next(), [MSG.INVOCATION, first[1], reg, { procedure: 'com.sum.stream' }, [4]])
  callee.send([MSG.YIELD, first[1], {}, [10]])
  t.same((await result as WampyResult).argsList, [10])

  const ab = await connectAutobahn(url)
  await ab.session.register('com.ab.plain', () => 'no streams')
  const refused = wy.client.progressiveCall('com.ab.plain', [1])
  t.equal((await failure(refused.result)).errorUri, 'wamp.error.feature_not_supported', 'autobahn did not announce progressive invocations')
  t.same([...ab.errors, ...wy.errors], [])
  await ab.close()
  await wy.close()
  await callee.close()
})
