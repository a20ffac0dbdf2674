//! `cargo xtask`: the repo's tasks (matklad's xtask pattern). They are the `quantbound` command's
//! subcommands, run from the checkout with its report under `target/`.

fn main() -> std::process::ExitCode {
    quantbound_cli::main(&quantbound_cli::Defaults::CHECKOUT)
}
