#!/usr/bin/env node
// The `weir-guest` command; its code is cli/main.ts, compiled to dist/cli/main.js.
import "../dist/cli/main.js";
