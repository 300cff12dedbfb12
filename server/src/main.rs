//! `accord` binary: everything lives in the library so tests drive the same code.

/// A request allocates and frees many small objects (headers, futures, JSON); mimalloc does
/// that in about a fifth fewer instructions per request than glibc's allocator (measured with
/// callgrind on the banner config answer; README, "Benchmark").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    accord::cli::main()
}
