//! With the `dynamic-link` feature the binaries look for llama.cpp's shared libraries next to
//! themselves (`-rpath $ORIGIN`, a DT_RUNPATH, so `LD_LIBRARY_PATH` still wins): that is where
//! llama-cpp-sys-2 puts them in the target folder, and where a copy built elsewhere (for
//! example with CUDA, by bench/gpu/build-llama-libs.sh) is meant to go.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dynamic = std::env::var_os("CARGO_FEATURE_DYNAMIC_LINK").is_some();
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if dynamic && linux {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN");
        // Examples live one folder down (target/release/examples).
        println!("cargo:rustc-link-arg-examples=-Wl,-rpath,$ORIGIN:$ORIGIN/..");
    }
}
