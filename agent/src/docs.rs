//! Man pages and shell completions, generated from the clap definitions the
//! binaries parse with (so they cannot drift from the real CLI). The binaries
//! expose this as a hidden `gen-docs DIR` subcommand, run at packaging time
//! (packaging/gen-docs.sh), which writes:
//!
//! - `DIR/man/NAME.1` and `DIR/man/NAME-SUBCOMMAND.1`
//! - `DIR/completions/NAME.bash`, `DIR/completions/_NAME` (zsh),
//!   `DIR/completions/NAME.fish`

use clap::Command;
use clap_complete::Shell;
use std::path::Path;

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
    fn writes_pages_and_completions_but_not_hidden_commands() {
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
            assert!(!text.contains("secret"), "{f}: {text}");
        }
    }
}
