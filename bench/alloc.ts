// Allocation meter: bytes the server allocates per call, by function, for client→app (`bench.echo`) and client→client
// (router mode: `bench.echo.client`, answered by bench/callee.ts). CPU time on a shared machine is noise; bytes
// allocated are not. bench/server.ts runs as a child with an IPC channel; once wampbench says it is measuring, the
// server's sampling heap profiler (every object sampled, dead or alive) runs for a window, and the bytes it saw are
// divided by the calls the server counted in that same window.
// Usage: tsx bench/alloc.ts [--serializer json|msgpack] [--modes app,router] [--duration 4] [--top 15]
//        [--interval 512] [--callees 1] [--json] [--owner] [--node-flags=--no-turbo-inlining]
// --owner charges what Node's internals allocate (Buffer views, events) to their nearest caller outside them.
// V8 charges an allocation in inlined code to the function it was inlined into; `--node-flags=--no-turbo-inlining`
// (server only) names the real sites, at the price of allocations that inlining would have removed.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values: flags } = parseArgs({
  options: {
    serializer: { type: 'string', default: 'json' },
    modes: { type: 'string', default: 'app,router' },
    duration: { type: 'string', default: '4' },
    top: { type: 'string', default: '15' },
    interval: { type: 'string', default: '512' },
    callees: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    owner: { type: 'boolean', default: false },
    'node-flags': { type: 'string', default: '' }
  }
})
const duration = Number(flags.duration)
const PROCEDURES: Record<string, string> = { app: 'bench.echo', router: 'bench.echo.client' }

interface ProfileNode {
  callFrame: { functionName: string, url: string, lineNumber: number }
  selfSize: number
  children: ProfileNode[]
}
interface ProfileReply { cmd: string, profile: { head: ProfileNode }, calls: number, routedCalls: number, error?: string }
interface Site { site: string, bytesPerCall: number }
interface Result { mode: string, serializer: string, calls: number, bytesPerCall: number, top: Site[] }

const children = new Set<ChildProcess>()
function start (args: string[], ipc = false): ChildProcess {
  const nodeFlags = ipc ? flags['node-flags'].split(' ').filter(Boolean) : []
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', ...args], { cwd: root, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe', ...(ipc ? ['ipc' as const] : [])] })
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}
/** Resolves with the first stdout (or stderr) line that matches. */
function line (child: ChildProcess, stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const onData = (b: Buffer): void => {
      buf += b.toString()
      const m = buf.match(pattern)
      if (m !== null) { child[stream]?.off('data', onData); resolve(m) }
    }
    child[stream]?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${String(child.spawnargs.slice(2, 4))} exited with ${code} before ${pattern}\n${buf.slice(-2000)}`)))
  })
}
function reply (server: ChildProcess, cmd: string): Promise<ProfileReply> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: ProfileReply): void => {
      if (msg.cmd === 'alloc-error') reject(new Error(msg.error))
      if (msg.cmd !== cmd) return
      server.off('message', onMessage)
      resolve(msg)
    }
    server.on('message', onMessage)
  })
}

/**
 * Self bytes by function (name, file:line), summed over the profile's tree; with `owner`, bytes allocated in Node's
 * internals or natively are charged to their nearest caller outside them (whose Buffer is it?).
 */
function bySite (head: ProfileNode, owner: boolean): Map<string, number> {
  const sites = new Map<string, number>()
  const walk = (node: ProfileNode, caller: string | undefined): void => {
    const { functionName, url, lineNumber } = node.callFrame
    const file = url.startsWith('file://') ? relative(root, fileURLToPath(url)) : url
    // Code that tsx compiled reports line 0: the file alone names it.
    let site = `${functionName || '(anonymous)'} ${file === '' ? '(native)' : lineNumber > 0 ? `${file}:${lineNumber + 1}` : file}`
    const internal = file === '' || file.startsWith('node:')
    if (owner && internal && caller !== undefined) site = caller
    if (node.selfSize > 0) sites.set(site, (sites.get(site) ?? 0) + node.selfSize)
    for (const child of node.children) walk(child, owner && internal ? caller : site)
  }
  walk(head, undefined)
  return sites
}

async function measure (mode: string): Promise<Result> {
  const server = start([join('bench', 'server.ts')], true)
  const callee: ChildProcess[] = []
  try {
    const port = (await line(server, 'stdout', /listening (\d+)/))[1]
    const url = `ws://127.0.0.1:${port}/ws`
    if (mode === 'router') {
      const c = start([join('bench', 'callee.ts'), '--url', url, '--serializer', flags.serializer, '--sessions', flags.callees])
      callee.push(c)
      await line(c, 'stdout', /ready \d+/)
    }
    const bench = spawn(process.execPath, [join('bench', 'wampbench', 'wampbench.mjs'), 'rpc', '--url', url, '--serializer', flags.serializer,
      '--procedure', PROCEDURES[mode], '-D', String(duration), '--warmup', '1', '--pid', String(server.pid)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(bench)
    const benchExit = once(bench, 'exit') as Promise<[number | null]>
    await line(bench, 'stderr', /rpc: measuring/)
    await sleep(200) // past the first calls of the window
    const started = reply(server, 'alloc-started')
    server.send({ cmd: 'alloc-start', interval: Number(flags.interval) })
    await started
    await sleep((duration - 0.7) * 1000) // stop before wampbench stops calling
    console.error(`[alloc] ${mode}: profiling`)
    const stopped = reply(server, 'alloc-profile')
    server.send({ cmd: 'alloc-stop' })
    const { profile, calls: appCalls, routedCalls } = await stopped
    const [code] = await benchExit
    if (code !== 0) throw new Error(`wampbench exited with ${code}`)
    const calls = mode === 'router' ? routedCalls : appCalls
    const sites = bySite(profile.head, flags.owner)
    let total = 0
    for (const bytes of sites.values()) total += bytes
    const top = [...sites].sort((a, b) => b[1] - a[1]).slice(0, Number(flags.top)).map(([site, bytes]) => ({ site, bytesPerCall: bytes / calls }))
    return { mode, serializer: flags.serializer, calls, bytesPerCall: total / calls, top }
  } finally {
    for (const c of [...callee, server]) c.kill('SIGTERM')
    await Promise.all([...callee, server].map(async (c) => { if (c.exitCode === null && c.signalCode === null) await once(c, 'exit') }))
  }
}

process.once('exit', () => { for (const c of children) c.kill('SIGKILL') })
const results: Result[] = []
for (const mode of flags.modes.split(',')) {
  if (PROCEDURES[mode] === undefined) throw new Error(`unknown mode '${mode}' (app|router)`)
  const result = await measure(mode)
  results.push(result)
  if (!flags.json) {
    console.log(`\n${mode} (${PROCEDURES[mode]}, ${result.serializer}): ${Math.round(result.bytesPerCall)} bytes/call over ${result.calls} calls`)
    for (const { site, bytesPerCall } of result.top) console.log(`${String(Math.round(bytesPerCall)).padStart(7)}  ${site}`)
  }
}
if (flags.json) console.log(JSON.stringify(results))
