fn main() {
    println!(
        "gardener-extension-shoot-flux {}",
        env!("CARGO_PKG_VERSION")
    );
}
