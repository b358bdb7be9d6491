/**
 * The end-to-end test harness: real servers on free 127.0.0.1 ports (nginx-rtmp with an RTMPS front,
 * node-media-server), ffmpeg fixtures and packet comparison, and a process runner for CLI tests.
 */
export * from "./ffmpeg.ts"
export * from "./flv.ts"
export * from "./nginx.ts"
export * from "./nms.ts"
export * from "./process.ts"
export * from "./tls.ts"
export * from "./cli.ts"
