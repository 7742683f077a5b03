// `sqlx::migrate!` embeds the migrations at compile time, but cargo does not know it
// reads them: rebuild this crate whenever a migration is added or changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
