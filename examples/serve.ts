import type { FastifyInstance } from 'fastify'

/**
 * Runs an example app on PORT/HOST and closes it gracefully on SIGINT/SIGTERM: `app.close()` lets calls in flight
 * answer and sends GOODBYE `system_shutdown` to every WAMP client before the process exits.
 */
export async function serve (app: FastifyInstance): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'closing: GOODBYE to every WAMP client')
      app.close().then(() => process.exit(0), (err: unknown) => { app.log.error(err); process.exit(1) })
    })
  }
  await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
}
