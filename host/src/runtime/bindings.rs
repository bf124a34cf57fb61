//! Host-side bindings for the `weir:source` world (`wit/source.wit`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "source-plugin",
    exports: { default: async },
});
