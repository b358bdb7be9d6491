/**
 * `@effect-rtmp/transport`: byte connections (TCP or TLS) for effect-rtmp, behind the `Transport`
 * service, with three Layers to provide it:
 *
 * - `layerCoroutine`: on Effect's socket, non-blocking, reads as a Stream. The default.
 * - `layerBlocking`: on `node:net` / `node:tls` in paused mode, exact reads. A cross-check.
 * - `layerMemory`: a scripted in-memory server, for tests.
 *
 * @since 0.1.0
 */
export * from "./Transport.ts"
export * from "./TransportError.ts"
export { layerCoroutine, makeCoroutine } from "./Coroutine.ts"
export { layerBlocking, makeBlocking } from "./Blocking.ts"
export { layerMemory, makeMemory, type MemoryOptions, type MemoryServer } from "./Memory.ts"
