import t from 'tap'
import net from 'node:net'
import Fastify from 'fastify'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fastifyWamp from '../index.js'
import { connectRaw } from './helpers/raw-client.js'

// Upgrade requests refused at the HTTP level: whatever refuses them, the server must let go of the socket.

const UPGRADE = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n'

/** Sends a raw upgrade request and resolves with the HTTP answer once the server has closed the connection. */
function refusedUpgrade (port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(UPGRADE(path)))
    const chunks: Buffer[] = []
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', reject)
    // The client never closes: only the server ending the connection settles this.
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
  })
}

const deny = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
  if (request.headers.authorization !== 'Bearer good') return reply.code(401).send({ error: 'Unauthorized' })
}

for (const when of ['before', 'after'] as const) {
  t.test(`an app onRequest hook added ${when} the plugin refusing an upgrade: 401, and the server closes the socket`, async (t) => {
    const app = Fastify({ logger: false })
    if (when === 'before') app.addHook('onRequest', deny)
    await app.register(fastifyWamp, { longPoll: true })
    if (when === 'after') app.addHook('onRequest', deny)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as net.AddressInfo).port
    for (const path of ['/ws', '/nowhere', '/lp/open']) {
      t.match(await refusedUpgrade(port, path), /^HTTP\/1\.1 401 /, `${path}: refused, connection closed by the server`)
    }
    const { client } = await connectRaw(`ws://127.0.0.1:${port}/ws`, { headers: { authorization: 'Bearer good' } })
    await client.close()
    await app.close()
    t.pass('fastify.close() resolved')
  })
}

t.test('an onRequest hook that throws on an upgrade: the error answer, and the server closes the socket', async (t) => {
  const app = Fastify({ logger: false })
  app.addHook('onRequest', async () => { throw Object.assign(new Error('no'), { statusCode: 403 }) })
  await app.register(fastifyWamp)
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.match(await refusedUpgrade((app.server.address() as net.AddressInfo).port, '/ws'), /^HTTP\/1\.1 403 /)
  await app.close()
})
