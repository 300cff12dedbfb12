//! `accord` binary: everything lives in the library so tests drive the same code.

/// jemalloc rather than glibc's malloc: a request allocates a few dozen small objects (parsed
/// body, record strings, header maps, the answer) and glibc's slow paths made up a quarter of a
/// consent POST's instructions; jemalloc cuts those by three quarters for ~5 MiB more RSS
/// (README, "Benchmark"; mimalloc cut as much but went over the RSS target).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    accord::cli::main()
}
