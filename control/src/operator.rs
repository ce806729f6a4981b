//! The operator's subcommands: checking a configuration, the commented default
//! configuration, accounts changed offline (the `mosquitto_passwd` role), shell
//! completions and the manual page.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, Command, PasswordArg, UserAction, DEFAULT_CONFIG};
use crate::config::Config;
use crate::error::ControlError;
use crate::{identity, store, users};

/// The commented default configuration the package installs as `/etc/netamp/netamp.toml`.
pub const DEFAULT_CONFIG_TEXT: &str = include_str!("../../packaging/netamp.toml");

/// The configuration file the daemon reads: `--config`, else [`DEFAULT_CONFIG`] when it
/// exists, else none (defaults).
pub fn config_path(cli: &Cli) -> Option<PathBuf> {
    cli.config.clone().or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG);
        default.exists().then_some(default)
    })
}

/// The state directory: `--data-dir`, the config's `data_dir`, systemd's
/// `$STATE_DIRECTORY`, or `./netamp-data`.
pub fn data_dir(cli: &Cli, config: &Config) -> PathBuf {
    cli.data_dir
        .clone()
        .or_else(|| config.data_dir.clone())
        .or_else(|| {
            // systemd may list several, colon-separated; the unit names one.
            std::env::var_os("STATE_DIRECTORY")
                .and_then(|v| {
                    v.to_str()
                        .and_then(|s| s.split(':').next())
                        .map(PathBuf::from)
                })
                .filter(|p| !p.as_os_str().is_empty())
        })
        .unwrap_or_else(|| PathBuf::from("netamp-data"))
}

/// The configuration file as the server report shows it: every value whose key names a
/// secret (`password`, `secret`, `token`, `key`) replaced by `*****`.
pub fn masked_config_text(path: Option<&Path>) -> String {
    let Some(path) = path else {
        return "(no configuration file: every setting at its default)\n".into();
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return format!("({}: cannot be read)\n", path.display());
    };
    let mut out = format!("# {}\n", path.display());
    for line in text.lines() {
        let secret = line
            .split_once('=')
            .filter(|(k, _)| !k.trim_start().starts_with('#'))
            .is_some_and(|(k, _)| {
                let k = k.trim().to_ascii_lowercase();
                ["password", "secret", "token", "key"]
                    .iter()
                    .any(|s| k.contains(s))
            });
        match line.split_once('=') {
            Some((k, _)) if secret => out.push_str(&format!("{}= \"*****\"\n", k)),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Runs one subcommand; what it prints goes to stdout, its failure to the caller.
pub fn run(cli: &Cli, command: &Command) -> Result<(), ControlError> {
    let mut out = std::io::stdout().lock();
    let print = |out: &mut dyn Write, text: &str| {
        out.write_all(text.as_bytes())
            .map_err(|e| ControlError::Config(format!("stdout: {e}")))
    };
    match command {
        Command::CheckConfig { file } => {
            let path = file.clone().or_else(|| config_path(cli));
            let config = Config::load(path.as_deref())?;
            config.validate()?;
            let name = path.map_or("(no file: the defaults)".into(), |p| {
                p.display().to_string()
            });
            print(&mut out, &format!("{name}: OK\n"))
        }
        Command::PrintDefaultConfig => print(&mut out, DEFAULT_CONFIG_TEXT),
        Command::Routes => print(&mut out, &crate::http::routes::listing()),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "netamp", &mut out);
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .map_err(|e| ControlError::Config(format!("stdout: {e}"))),
        Command::User { action } => {
            let config = Config::load(config_path(cli).as_deref())?;
            let text = user(
                &data_dir(cli, &config),
                config.device.mac.as_deref(),
                action,
            )?;
            print(&mut out, &text)
        }
    }
}

/// `netamp user …` on a state directory no daemon holds; returns what to print.
fn user(
    dir: &Path,
    configured_mac: Option<&str>,
    action: &UserAction,
) -> Result<String, ControlError> {
    std::fs::create_dir_all(dir).map_err(|source| ControlError::State {
        path: dir.to_owned(),
        source,
    })?;
    let _lock = store::StateLock::take(dir)?;
    // The realm the daemon will use: the same MAC, fixed in the same state directory.
    let realm =
        identity::Identity::new(identity::device_mac(dir, configured_mac)?, None, "").realm();
    let accounts = users::UserStore::load(dir.join("users.json"), realm)?;
    let refused = |e: users::AccountError| ControlError::Config(format!("refused: {e}"));
    match action {
        UserAction::Add {
            name,
            role,
            password,
        } => {
            let groups = match role.as_str() {
                "admin" => "admin:operator:viewer:ptz",
                "operator" => "operator:viewer",
                _ => "viewer",
            };
            let group = if accounts.is_empty() { "root" } else { "users" };
            accounts
                .add(name, &read_password(password)?, group, groups, "")
                .map_err(refused)?;
            Ok(format!("added {name} ({role})\n"))
        }
        UserAction::Passwd { name, password } => {
            if accounts.get(name).is_none() {
                return Err(refused(users::AccountError::NoSuchUser));
            }
            accounts
                .update(name, Some(&read_password(password)?), None, None)
                .map_err(refused)?;
            Ok(format!("password of {name} changed\n"))
        }
        UserAction::Remove { name } => {
            accounts.remove(name).map_err(refused)?;
            Ok(format!("removed {name}\n"))
        }
        UserAction::List => Ok(accounts
            .all()
            .iter()
            .map(|a| {
                let role = match a.role() {
                    users::Role::Admin => "admin",
                    users::Role::Operator => "operator",
                    _ => "viewer",
                };
                format!("{}\t{role}\n", a.name)
            })
            .collect()),
    }
}

/// The password from `--password`, a prompt on a terminal (asked twice), or the first
/// line of standard input.
fn read_password(arg: &PasswordArg) -> Result<String, ControlError> {
    if let Some(p) = &arg.password {
        return Ok(p.clone());
    }
    let failed = |e: std::io::Error| ControlError::Config(format!("reading the password: {e}"));
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(failed)?;
        let again = rpassword::prompt_password("Again: ").map_err(failed)?;
        if first != again {
            return Err(ControlError::Config("the passwords differ".into()));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(failed)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped file with its `<prefix>key = value` and `<prefix>[[table]]` lines
    /// uncommented (prose comments stay comments).
    fn uncommented(prefix: &str) -> String {
        let setting = |rest: &str| {
            rest.starts_with("[[")
                || rest
                    .split_once(" = ")
                    .is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        };
        DEFAULT_CONFIG_TEXT
            .lines()
            .map(|l| match l.strip_prefix(prefix) {
                Some(rest) if setting(rest) => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_shipped_file_states_every_default_as_it_is() {
        // Uncommenting every default changes nothing.
        let defaults: Config = toml::from_str(&uncommented("# ")).expect("defaults parse");
        assert_eq!(format!("{defaults:?}"), format!("{:?}", Config::default()));
        // The examples are valid too.
        let examples: Config = toml::from_str(&uncommented("## ")).expect("examples parse");
        examples.validate().expect("examples valid");
    }

    #[test]
    fn the_shipped_file_names_every_key() {
        // The schema lists its keys in the error for an unknown one.
        for section in [
            "",
            "http",
            "sip",
            "audio",
            "clips",
            "device",
            "auth",
            "io",
            "rtsp",
            "recording",
            "rules",
            "sip.accounts",
            "sip.dtmf",
            "io.lines",
        ] {
            let doc = match section {
                "" => "zz_unknown = 1\n".to_string(),
                s if s.contains('.') => format!("[[{s}]]\nzz_unknown = 1\n"),
                s => format!("[{s}]\nzz_unknown = 1\n"),
            };
            let err = toml::from_str::<Config>(&doc)
                .expect_err("unknown key")
                .to_string();
            let listed = err.split("expected one of").nth(1).unwrap_or_else(|| {
                err.split("expected")
                    .nth(1)
                    .unwrap_or_else(|| panic!("{section}: {err}"))
            });
            for key in listed.split('`').skip(1).step_by(2) {
                let written = DEFAULT_CONFIG_TEXT.lines().any(|l| {
                    let l = l.trim_start_matches('#').trim_start();
                    l.starts_with(&format!("{key} ="))
                        || l.starts_with(&format!("[{key}]"))
                        || l.starts_with(&format!("[[sip.{key}]]"))
                        || l.starts_with(&format!("[[io.{key}]]"))
                });
                assert!(written, "[{section}] {key} is not in packaging/netamp.toml");
            }
        }
    }

    #[test]
    fn offline_accounts_use_the_realm_the_daemon_will_use_and_respect_its_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pw = |p: &str| PasswordArg {
            password: Some(p.into()),
        };
        let add = |name: &str, role: &str, p: &str| UserAction::Add {
            name: name.into(),
            role: role.into(),
            password: pw(p),
        };
        // The first account must be an administrator.
        assert!(user(dir.path(), None, &add("bob", "viewer", "x")).is_err());
        user(dir.path(), None, &add("root", "admin", "first")).expect("root");
        user(dir.path(), None, &add("bob", "viewer", "b")).expect("bob");
        user(
            dir.path(),
            None,
            &UserAction::Passwd {
                name: "root".into(),
                password: pw("second"),
            },
        )
        .expect("passwd");
        let realm = identity::Identity::new(
            identity::device_mac(dir.path(), None).expect("mac"),
            None,
            "",
        )
        .realm();
        let store = users::UserStore::load(dir.path().join("users.json"), realm).expect("load");
        assert!(store.check_password("root", "second").is_some());
        assert!(store.check_password("root", "first").is_none());
        assert_eq!(
            user(dir.path(), None, &UserAction::List).expect("list"),
            "root\tadmin\nbob\tviewer\n"
        );
        assert!(user(
            dir.path(),
            None,
            &UserAction::Remove {
                name: "root".into()
            }
        )
        .is_err());
        // A running daemon holds the directory: nothing is written under it.
        let held = store::StateLock::take(dir.path()).expect("lock");
        let busy = user(dir.path(), None, &UserAction::Remove { name: "bob".into() });
        assert!(matches!(busy, Err(ControlError::Busy(_))), "{busy:?}");
        drop(held);
        user(dir.path(), None, &UserAction::Remove { name: "bob".into() }).expect("remove");
    }
}
