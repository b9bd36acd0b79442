//! Man pages and shell completions, generated from the clap definitions the
//! binaries parse with (so they cannot drift from the real CLI). The binaries
//! answer `BINARY gen-docs DIR` (checked before clap parses, so it shows in
//! no help, page or completion), run at packaging time by
//! packaging/test-debs.sh, which writes:
//!
//! - `DIR/man/NAME.1` and `DIR/man/NAME-SUBCOMMAND.1`
//! - `DIR/completions/NAME.bash`, `DIR/completions/_NAME` (zsh),
//!   `DIR/completions/NAME.fish`

use clap::Command;
use clap_complete::Shell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `Some(DIR)` when the binary was run as `BINARY gen-docs DIR`.
pub fn requested() -> Option<PathBuf> {
    let mut args = std::env::args_os().skip(1);
    match (args.next(), args.next(), args.next()) {
        (Some(verb), Some(dir), None) if verb == "gen-docs" => Some(PathBuf::from(dir)),
        _ => None,
    }
}

/// Generate the docs of every command under `dir`, for `main`.
pub fn run(commands: &[Command], dir: &Path) -> ExitCode {
    for cmd in commands {
        if let Err(e) = generate(cmd.clone(), dir) {
            eprintln!("{} gen-docs: {}: {e}", cmd.get_name(), dir.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Write the man pages and completions of `cmd` under `dir`.
pub fn generate(cmd: Command, dir: &Path) -> std::io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let mut cmd = cmd;
    cmd.build();
    let name = cmd.get_name().to_owned();
    render_man(&cmd, &man.join(format!("{name}.1")))?;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        // clap names are &'static str (no "string" feature); this runs once.
        let page_name: &'static str = Box::leak(format!("{name}-{}", sub.get_name()).into());
        let page = sub.clone().name(page_name);
        render_man(&page, &man.join(format!("{name}-{}.1", sub.get_name())))?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        clap_complete::generate_to(shell, &mut cmd, &name, &completions)?;
    }
    Ok(())
}

fn render_man(cmd: &Command, path: &Path) -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    std::fs::write(path, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_pages_and_completions_but_not_hidden_subcommands() {
        let cmd = Command::new("demo")
            .version("1.0")
            .about("A demo")
            .subcommand(Command::new("check").about("Check it"))
            .subcommand(Command::new("secret").hide(true));
        let dir = tempfile::tempdir().unwrap();
        generate(cmd, dir.path()).unwrap();
        let page = std::fs::read_to_string(dir.path().join("man/demo.1")).unwrap();
        assert!(page.contains(".TH demo 1"), "{page}");
        assert!(dir.path().join("man/demo-check.1").exists());
        assert!(!dir.path().join("man/demo-secret.1").exists());
        for f in ["demo.bash", "_demo", "demo.fish"] {
            let text = std::fs::read_to_string(dir.path().join("completions").join(f)).unwrap();
            assert!(text.contains("check"), "{f}: {text}");
        }
    }
}
