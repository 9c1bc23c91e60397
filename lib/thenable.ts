// Fastify's way (lib/hooks.js): accept sync or async user code without forcing a promise.

/** True for a promise or any object with a `then` method. */
export function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as { then?: unknown }).then === 'function'
}
