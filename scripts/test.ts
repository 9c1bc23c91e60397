// `npm test`: compile the tests once (scripts/build-tests.ts), then run the type-check, the linter and tap side
// by side. The test files mostly wait on sockets and timers, so tsc and eslint use CPU tap leaves idle; the three
// still gate the result: the exit code is non-zero if any of them fails. tap reports live; the type-check and lint
// output is printed after it, so the two never interleave.
import { spawn } from 'node:child_process'
import { TapConfig } from '@tapjs/config'
import { signature } from '@tapjs/test'

interface Outcome { name: string, code: number, output: string, ms: number }

const started = Date.now()
await import('./build-tests.js')

function run (name: string, command: string, args: string[], live: boolean): Promise<Outcome> {
  const begun = Date.now()
  const child = spawn(command, args, { stdio: live ? 'inherit' : ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  return new Promise((resolve) => {
    child.once('error', (err) => resolve({ name, code: 1, output: output + String(err), ms: Date.now() - begun }))
    child.once('close', (code, signal) => resolve({ name, code: code ?? (signal === null ? 1 : 128), output, ms: Date.now() - begun }))
  })
}

// One lane for both checks, not two: at the start tap's first files (api-docs, package, readme) compile too, and
// more CPU-bound processes than that on two cores only stretch the socket tests' waits.
const checks = (async () => [
  await run('typecheck', 'npm', ['run', '--silent', 'typecheck'], false),
  await run('lint', 'npm', ['run', '--silent', 'lint'], false)
])()
// tap starts each test file with the import hooks of the plugins it was built with. npm installs it built with its
// default plugins, @tapjs/typescript among them (ts-node in every test process, ~2 s of CPU each); package.json drops
// that plugin, and tap rebuilds itself when the two differ — but only once its runner is up, and that whole run still
// starts every file with the hooks it loaded: the first run on a clean clone (every CI run) paid for ts-node ~90 times.
// Rebuilding here first gives that run the configured hooks.
if (signature !== (await TapConfig.load()).pluginSignature) {
  const rebuilt = await run('tap build', 'npx', ['tap', 'build'], false)
  if (rebuilt.code !== 0) process.stdout.write(`\n== tap build\n${rebuilt.output}`)
}
const tap = await run('tap', 'npx', ['tap', ...process.argv.slice(2)], true)
const outcomes = [...await checks, tap]
for (const { name, code, output } of outcomes.slice(0, 2)) {
  if (output.trim() !== '') process.stdout.write(`\n== ${name}\n${output}`)
  if (code !== 0) process.exitCode = 1
}
if (tap.code !== 0) process.exitCode = 1
const summary = outcomes.map(({ name, code, ms }) => `${name} ${code === 0 ? 'ok' : `FAILED (exit ${code})`} ${(ms / 1000).toFixed(0)} s`)
console.log(`\nnpm test: ${summary.join(', ')}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`)
