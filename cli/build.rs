//! Links the `ledger` binary as a position-dependent executable on Linux.
//!
//! A position-independent one (the default) is relocated by the dynamic loader at every start:
//! some 27,000 pointers in the command tables, formatting vtables and the AWS SDK's, read from a
//! 660 KiB relocation table and written into pages each process then owns. A command that
//! runs for 2 ms paid a noticeable part of it before `main` (see benches/README.md,
//! "Start-up"). Linked at a fixed address, the binary has nothing to relocate; shared
//! libraries, the stack and the heap are still placed at random addresses. `scripts/dist`
//! goes further for the binary to install: linked statically, it has no shared libraries to
//! load either, and its hot functions (`hot-functions.txt`) are laid out together.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // `scripts/dist` gives this list to the linker: a new list must relink the binary.
    println!("cargo::rerun-if-changed=hot-functions.txt");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
