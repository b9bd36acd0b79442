//! Release builds lay the agent's code out in the order of
//! `text-order/symbols.txt` (what it runs at work, then what it runs at
//! start), so its resident text is the code it runs rather than every
//! 64 KiB neighbourhood the kernel's fault-around maps around it. See
//! `text-order/gen.py` for how the list is made and why.

use std::path::Path;

fn main() {
    let list = Path::new("text-order/symbols.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    // Only lld reads an ordering file; it is the linker rustc uses for
    // x86_64-unknown-linux-gnu (1.90 on). Elsewhere the default layout stays.
    let lld_target = std::env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    if release && lld_target && list.exists() {
        let abs = list.canonicalize().expect("text-order/symbols.txt");
        println!(
            "cargo:rustc-link-arg-bin=fleet-agent=-Wl,--symbol-ordering-file={}",
            abs.display()
        );
        // A stale name (code changed since the list was made) is not an error.
        println!("cargo:rustc-link-arg-bin=fleet-agent=-Wl,--no-warn-symbol-ordering");
    }
}
