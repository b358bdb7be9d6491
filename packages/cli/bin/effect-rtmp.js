#!/usr/bin/env node
// The CLI runs from one bundled, tree-shaken file (built by `npm run build`): loading the `effect` barrel
// module by module costs ~0.35 s of CPU at every start. The compile cache keeps V8's bytecode between runs.
import module from "node:module"

module.enableCompileCache?.()
await import("../dist/effect-rtmp.mjs")
