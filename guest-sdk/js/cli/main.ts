// `weir-guest`: the command a source author runs. `weir-guest build` turns a
// source project into a WebAssembly component for Weir.

import { parseArgs } from "node:util";
import { build } from "./build.js";

const USAGE = `usage: weir-guest build [ENTRY] [-o OUT.wasm] [--engine quickjs|starlingmonkey] [--keep-js FILE]

Bundle a source (TypeScript or JavaScript; ENTRY is a file, or a project folder
whose src/index.ts or src/index.js is used; default: the current folder) and
build it into a component implementing the weir:source contract.

  -o, --out FILE      where to write the component (default: NAME.wasm, NAME
                      being the project folder's name)
  --engine ENGINE     quickjs (the default: small and fast, componentize-qjs)
                      or starlingmonkey (componentize-js; needed for outbound
                      HTTP, which is chosen automatically when the source
                      imports weir-guest/http)
  --keep-js FILE      also write the bundled JavaScript there
  -h, --help          this text`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: "string", short: "o" },
      engine: { type: "string" },
      "keep-js": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, entry, ...extra] = positionals;
  if (values.help === true || command === undefined) {
    console.log(USAGE);
    return values.help === true ? 0 : 2;
  }
  if (command !== "build" || extra.length > 0) {
    console.error(`weir-guest: unknown command or extra arguments: ${positionals.join(" ")}\n\n${USAGE}`);
    return 2;
  }
  const engine = values.engine;
  if (engine !== undefined && engine !== "quickjs" && engine !== "starlingmonkey") {
    console.error(`weir-guest: --engine must be quickjs or starlingmonkey, not ${JSON.stringify(engine)}`);
    return 2;
  }
  return build({
    entry: entry ?? ".",
    out: values.out,
    engine,
    keepJs: values["keep-js"],
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`weir-guest: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
  },
);
