// Generates the TypeScript declarations of the WIT interfaces the SDK imports
// (src/wit/, committed) with `jco guest-types`; `--check` fails when the
// committed ones differ from what the WIT in wit/ gives.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "src/wit");
const jco = join(root, "node_modules/@bytecodealliance/jco/dist/jco.js");
// The world with every interface the SDK uses.
const world = "pushing-source-http";

function generate(out) {
  const run = spawnSync(process.execPath, [jco, "guest-types", join(root, "wit"), "-n", world, "-o", out, "-q"], {
    encoding: "utf8",
  });
  if (run.status !== 0) {
    throw new Error(`jco guest-types failed:\n${run.stdout}${run.stderr}`);
  }
}

function files(folder) {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(folder, join(entry.parentPath, entry.name)))
    .sort();
}

if (process.argv.includes("--check")) {
  const scratch = mkdtempSync(join(tmpdir(), "wit-types-"));
  try {
    generate(scratch);
    const want = files(scratch);
    const have = files(target);
    const differ = want.filter(
      (file) =>
        !have.includes(file) || readFileSync(join(scratch, file), "utf8") !== readFileSync(join(target, file), "utf8"),
    );
    const extra = have.filter((file) => !want.includes(file));
    if (differ.length > 0 || extra.length > 0) {
      console.error(`src/wit is out of date (${[...differ, ...extra].join(", ")}); run: npm run wit-types`);
      process.exit(1);
    }
    console.log("src/wit matches the WIT in wit/");
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
} else {
  rmSync(target, { recursive: true, force: true });
  generate(target);
  console.log(`wrote ${files(target).length} files to src/wit`);
}
