//! `fleetctl`: see `fleet_console::cli` for everything.

fn main() -> std::process::ExitCode {
    fleet_console::cli::main()
}
