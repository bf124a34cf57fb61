// Module hooks for running the conformance source natively under Node: each
// `weir:source/...` import becomes a module that reads `globalThis.weirTestHost`
// (config, secrets, and the log lines written).

const MODULES = {
  "weir:source/config@0.1.1": "export function get(key) { return globalThis.weirTestHost.config[key] ?? null; }",
  "weir:source/secrets@0.1.1": "export function get(key) { return globalThis.weirTestHost.secrets[key] ?? null; }",
  "weir:source/log@0.1.1":
    "export function log(level, message) { globalThis.weirTestHost.logs.push(`${level} ${message}`); }",
};

export function resolve(specifier, context, next) {
  return specifier in MODULES ? { url: `weir-stub:${specifier}`, shortCircuit: true } : next(specifier, context);
}

export function load(url, context, next) {
  const specifier = url.startsWith("weir-stub:") ? url.slice("weir-stub:".length) : undefined;
  return specifier === undefined
    ? next(url, context)
    : { format: "module", source: MODULES[specifier], shortCircuit: true };
}
