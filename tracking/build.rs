// `sqlx::migrate!` embeds tracking's migrations at compile time, but cargo does not know
// it reads them: rebuild this crate whenever one is added or changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations/tracking");
}
