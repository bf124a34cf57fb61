// Fails when the SDK's copy of the contract (wit/deps/weir-source/source.wit)
// differs from the repository's wit/source.wit.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const sdk = join(dirname(fileURLToPath(import.meta.url)), "..");
const copy = join(sdk, "wit/deps/weir-source/source.wit");
const original = join(sdk, "../../wit/source.wit");

if (readFileSync(copy, "utf8") !== readFileSync(original, "utf8")) {
  console.error(`${copy} differs from ${original}; copy it over, then run: npm run wit-types`);
  process.exit(1);
}
console.log(`${copy} matches ${original}`);
