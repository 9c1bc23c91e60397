// fox-wamp (npm `fox-wamp`, a Node WAMP router) as the comparison for router mode: realm1 on /ws, wamp.2.json only.
// It routes client → client calls (bench/callee.ts registers bench.echo.client); it has no application procedures,
// so only the `router` mode of bench/run.ts runs against it. Env: PORT (default 18082). Prints `listening <port>`.
import { createServer } from 'node:http'
import { createRequire } from 'node:module'

const FoxRouter = createRequire(import.meta.url)('fox-wamp')
const port = Number(process.env.PORT ?? 18082)
const server = createServer()
const router = new FoxRouter()
router.listenWAMP({ server, path: '/ws' })
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`))
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(0))
