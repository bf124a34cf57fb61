//! Rebuild when a migration or a `weir new` template is added or changed:
//! `sqlx::migrate!` embeds the `migrations/` folder and `include_dir!` the
//! `templates/` folder at compile time, and cargo does not see new files
//! there on its own.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=templates");
}
