import { build } from 'esbuild'

// autobahn-js for a browser page: its npm package bundled with esbuild (a dev dependency through tsx), with only
// the JSON serializer — its msgpack and cbor modules need Node's streams, and the long-poll transport speaks JSON.

const STUBS: Record<string, string> = {
  cbor: 'module.exports = {}',
  msgpack5: 'module.exports = function () { throw new Error("msgpack is not bundled") }',
  when: 'throw new Error("when is not bundled")',
  'when/monitor/console': 'module.exports = {}'
}

let bundled: Promise<string> | undefined

/** The bundle, as one script that defines `window.autobahn`. */
export function autobahnBundle (): Promise<string> {
  bundled ??= build({
    entryPoints: ['autobahn'],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'autobahn',
    write: false,
    logLevel: 'error',
    define: { global: 'globalThis' },
    plugins: [{
      name: 'stubs',
      setup (b) {
        b.onResolve({ filter: /^(cbor|msgpack5|when|when\/monitor\/console)$/ }, (args) => ({ path: args.path, namespace: 'stub' }))
        b.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({ contents: STUBS[args.path], loader: 'js' }))
      }
    }]
  }).then((result) => result.outputFiles[0].text)
  return bundled
}
