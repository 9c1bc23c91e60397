// One instance of a cluster-RPC app in its own process, so a test can kill it without a clean shutdown.
// Usage: node --import tsx test/helpers/cluster-instance.ts <redis url> <prefix> [heartbeat ms] [router | testament]
// (testament: the Meta API on and client publications brokered, so clients can leave testaments)
// Prints one JSON line {port, instance} once it listens.

import Fastify from 'fastify'
import fastifyWamp, { RedisFanout } from '../../index.js'

const [url, prefix, heartbeat = '200', mode] = process.argv.slice(2)
const fanout = new RedisFanout({ redis: url, prefix, heartbeat: Number(heartbeat), rpc: true })
const app = Fastify({ logger: false })
await app.register(fastifyWamp, { fanout, metaApi: mode === 'testament', realms: [{ name: 'realm1', router: mode === 'router', broker: mode === 'testament' }] })
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
const port = typeof address === 'object' && address !== null ? address.port : 0
process.stdout.write(JSON.stringify({ port, instance: fanout.instanceId }) + '\n')
