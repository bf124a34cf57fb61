// `weir-guest build`: bundle a source into one JavaScript module (esbuild),
// choose the world from what the module exports and imports, and turn it into
// a component with the chosen engine's componentizer.

import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

/** QuickJS (componentize-qjs) or SpiderMonkey (StarlingMonkey, componentize-js). */
export type Engine = "quickjs" | "starlingmonkey";

export interface BuildOptions {
  /** An entry file, or a project folder (its `src/index.ts` or `src/index.js`). */
  entry: string;
  out: string | undefined;
  /** Undefined: QuickJS, or StarlingMonkey when the source sends HTTP requests. */
  engine: Engine | undefined;
  keepJs: string | undefined;
}

/** The package's own folder: the SDK the source is bundled with, and its WIT. */
const SDK_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WIT_DIR = join(SDK_ROOT, "wit");
const SDK_ENTRIES: Record<string, string> = {
  "weir-guest": join(SDK_ROOT, "dist/src/index.js"),
  "weir-guest/http": join(SDK_ROOT, "dist/src/http/index.js"),
};
const ENTRY_CANDIDATES = ["src/index.ts", "src/index.js", "index.ts", "index.js"];

/** What the bundled module asks of the component. */
interface Bundle {
  code: string;
  pushes: boolean;
  sendsHttp: boolean;
}

/** A failure in one step, reported with what was being done. */
class StepError extends Error {
  constructor(step: string, detail: string) {
    super(`${step}: ${detail}`);
  }
}

/** Build one source; returns the process exit code. */
export async function build(options: BuildOptions): Promise<number> {
  const started = performance.now();
  try {
    const { entry, name } = await resolveEntry(options.entry);
    const out = resolve(options.out ?? `${name}.wasm`);
    const bundle = await bundleSource(entry);
    if (options.keepJs !== undefined) {
      await writeFile(options.keepJs, bundle.code);
    }
    const engine = chooseEngine(options.engine, bundle);
    const world = `${bundle.pushes ? "pushing-source" : "source"}${bundle.sendsHttp ? "-http" : ""}`;
    const component = await componentize(engine, bundle.code, world);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, component);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const megabytes = (component.length / 1e6).toFixed(1);
    console.log(`built ${out} (${megabytes} MB) from ${entry}: world ${world}, engine ${engine}, ${seconds} s`);
    return 0;
  } catch (error) {
    console.error(`weir-guest build failed: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/** The entry file and the project's name (the folder's name) for the default output. */
async function resolveEntry(entry: string): Promise<{ entry: string; name: string }> {
  const path = resolve(entry);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) {
    throw new StepError("finding the entry", `${path} does not exist`);
  }
  if (info.isFile()) {
    const folder = basename(dirname(path)) === "src" ? dirname(dirname(path)) : dirname(path);
    return { entry: path, name: basename(folder) };
  }
  for (const candidate of ENTRY_CANDIDATES) {
    const file = join(path, candidate);
    if ((await stat(file).catch(() => undefined))?.isFile() === true) {
      return { entry: file, name: basename(path) };
    }
  }
  throw new StepError("finding the entry", `${path} has none of ${ENTRY_CANDIDATES.join(", ")}`);
}

/** Bundle the source and the SDK into one ES module; WIT imports stay imports. */
async function bundleSource(entry: string): Promise<Bundle> {
  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      mainFields: ["module", "main"],
      external: ["weir:*", "wasi:*"],
      plugins: [sdkAlias],
      logLevel: "silent",
    });
  } catch (error) {
    throw new StepError(`bundling ${entry} with esbuild`, await esbuildMessages(error));
  }
  const output = Object.values(result.metafile.outputs)[0];
  const file = result.outputFiles[0];
  if (output === undefined || file === undefined) {
    throw new StepError(`bundling ${entry} with esbuild`, "esbuild wrote nothing");
  }
  if (!output.exports.includes("source")) {
    throw new StepError(
      "checking the exports",
      `${entry} does not export \`source\`: add \`export const source = exportSource(mySource);\``,
    );
  }
  return {
    code: file.text,
    pushes: output.exports.includes("push"),
    sendsHttp: output.imports.some((item) => item.external === true && item.path.startsWith("wasi:http/")),
  };
}

/** Resolve `weir-guest` to this SDK, whatever the project has installed. */
const sdkAlias: esbuild.Plugin = {
  name: "weir-guest-sdk",
  setup(plugin) {
    plugin.onResolve({ filter: /^weir-guest(\/http)?$/ }, (args) => ({ path: SDK_ENTRIES[args.path] }));
  },
};

async function esbuildMessages(error: unknown): Promise<string> {
  const failure = error as Partial<esbuild.BuildFailure>;
  if (failure.errors === undefined || failure.errors.length === 0) {
    return String(error);
  }
  const lines = await esbuild.formatMessages(failure.errors, { kind: "error", color: false });
  return `\n${lines.join("")}`;
}

function chooseEngine(requested: Engine | undefined, bundle: Bundle): Engine {
  if (!bundle.sendsHttp) {
    return requested ?? "quickjs";
  }
  if (requested === "quickjs") {
    throw new StepError(
      "choosing the engine",
      "the source imports weir-guest/http, and componentize-qjs 0.4.5 cannot build a component that imports wasi:http " +
        "(its build-time linker stubs wasi:http with resource types that do not match wasi:io's); " +
        "build it with --engine starlingmonkey",
    );
  }
  if (requested === undefined) {
    console.log("the source imports weir-guest/http: building with StarlingMonkey (QuickJS cannot link wasi:http)");
  }
  return "starlingmonkey";
}

async function componentize(engine: Engine, code: string, world: string): Promise<Uint8Array> {
  const step = `componentizing with ${engine === "quickjs" ? "componentize-qjs --sync" : "componentize-js"} (WIT ${WIT_DIR}, world ${world})`;
  try {
    return engine === "quickjs" ? await withQuickJs(code, world) : await withStarlingMonkey(code, world);
  } catch (error) {
    throw new StepError(step, error instanceof Error ? error.message : String(error));
  }
}

async function withQuickJs(code: string, world: string): Promise<Uint8Array> {
  const { componentize } = await import("componentize-qjs");
  const { component } = await componentize({ witPath: WIT_DIR, world, jsSource: code, sync: true });
  return component;
}

async function withStarlingMonkey(code: string, world: string): Promise<Uint8Array> {
  const starlingMonkey = await import("@bytecodealliance/componentize-js");
  const folder = await mkdtemp(join(tmpdir(), "weir-guest-"));
  try {
    const sourcePath = join(folder, "source.js");
    await writeFile(sourcePath, code);
    const { component } = await starlingMonkey.componentize({ sourcePath, witPath: WIT_DIR, worldName: world });
    return component;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
