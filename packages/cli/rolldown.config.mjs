/**
 * The CLI bundle (`npm run build`): tsc's output from packages/cli/dist/bin.js, tree-shaken into one ESM
 * file, packages/cli/dist/effect-rtmp.mjs, which packages/cli/bin/effect-rtmp.js loads with V8's compile
 * cache. Every CLI run pays for loading it, so it is shaped for start-up:
 *
 * - no comments, ASCII only: half the bytes to read and hash, and V8 keeps an ASCII source as a one-byte
 *   string (a single non-ASCII character makes it decode the whole file to UTF-16);
 * - module-level work that only some runs need is deferred to its first use (see `deferred`).
 */
import * as path from "node:path"
import { defineConfig } from "rolldown"

const cli = import.meta.dirname

/**
 * Rewrites of module-level statements into lazy ones, by module. A pattern that no longer matches (a new
 * version of a dependency) leaves the module as it is: slower to load, never different in behaviour.
 *
 * - `import * as X from "node:tls"` (and node:crypto, node:child_process, node:readline): loading node:tls
 *   costs ~25 ms of CPU and only rtmps needs it; node:crypto (~9 ms) only the digest handshake and
 *   authentication (through `internal/nodeCrypto.ts`) and temporary files; the other two (~4 ms) serve
 *   commands the CLI does not run. A namespace
 *   import is only ever read as `X.member`, so a Proxy that loads the module on the first read is
 *   equivalent.
 * - effect/cli's `graphemeSegmenter`: an `Intl.Segmenter` built at load time (~15 ms of ICU set-up) for
 *   measuring help text, which a publish never prints.
 */
const deferred = {
  name: "defer-module-level-work",
  transform(code, id) {
    let out = code.replace(
      /^import \* as (\w+) from "(node:(?:tls|crypto|child_process|readline))";?$/gm,
      (_, name, module) =>
        `const ${name} = new Proxy({}, { get: (_, key) => builtin$deferred("${module}")[key] });`
    )
    if (out !== code) {
      // process.getBuiltinModule is Node >= 22.3; require works on every version the CLI supports
      out = `import { createRequire as createRequire$deferred } from "node:module";\n` +
        `const builtin$deferred = (id) => process.getBuiltinModule?.(id) ?? createRequire$deferred(import.meta.url)(id);\n` +
        out
    }
    if (id.endsWith(path.join("effect", "dist", "cli", "CliOutput.js"))) {
      out = out.replace(
        /^const graphemeSegmenter = \/\*#__PURE__\*\/\s*new Intl\.Segmenter\(([^)]*)\);$/m,
        (_, args) =>
          `let graphemeSegmenter$;\nconst graphemeSegmenter = { segment: (text) => (graphemeSegmenter$ ??= new Intl.Segmenter(${args})).segment(text) };`
      )
    }
    return out === code ? null : { code: out, map: null }
  }
}

export default defineConfig({
  input: path.join(cli, "dist/bin.js"),
  platform: "node",
  logLevel: "warn",
  plugins: [deferred],
  output: {
    file: path.join(cli, "dist/effect-rtmp.mjs"),
    format: "esm",
    comments: false,
    charset: "ascii"
  }
})
