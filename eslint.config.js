import neostandard from 'neostandard'

export default neostandard({
  ts: true,
  ignores: ['dist/**', 'node_modules/**', 'bench/wampbench/**', 'bench/results/**', 'test/artifacts/**', 'tmp/**', 'examples/browser/vendor/**']
})
