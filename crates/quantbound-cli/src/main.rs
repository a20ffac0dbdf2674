//! `quantbound`, as `cargo install --path crates/quantbound-cli` installs it.

fn main() -> std::process::ExitCode {
    quantbound_cli::main(&quantbound_cli::Defaults::INSTALLED)
}
