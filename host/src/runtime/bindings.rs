//! Host-side bindings for the `weir:source` worlds (`wit/source.wit`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "source-plugin",
    exports: { default: async },
});

/// The `push` export alone, which a source may add to `source-plugin` (the
/// `pushing-source-plugin` world): bound separately so a plugin without it
/// still binds `source-plugin`, and the host probes for this one.
pub(crate) mod push {
    wasmtime::component::bindgen!({
        path: "../wit",
        inline: "
            package weir:host;

            world push-export {
                export weir:source/push@0.1.1;
            }
        ",
        world: "weir:host/push-export",
        with: { "weir:source/types": super::weir::source::types },
        exports: { default: async },
    });
}
