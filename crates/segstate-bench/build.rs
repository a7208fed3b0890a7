//! Compiles the C baseline, `c/segconv.c`, at -O2.

fn main() {
    println!("cargo:rerun-if-changed=c/segconv.c");
    println!("cargo:rerun-if-changed=c/segconv.h");
    cc::Build::new()
        .file("c/segconv.c")
        .opt_level(2)
        .debug(false)
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-std=gnu11")
        .compile("segconv");
}
