//! The command line: the daemon's flags (the operator contract of ARCHITECTURE.md §4)
//! and the operator's subcommands, which [`crate::operator`] carries out.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Where the installed package keeps its configuration; read when it exists and
/// `--config` names no other file.
pub const DEFAULT_CONFIG: &str = "/etc/netamp/netamp.toml";

/// Command line: with no subcommand, runs the daemon.
#[derive(Debug, Parser)]
#[command(
    name = "netamp",
    version,
    about = "Network audio endpoint: SIP/IP paging amplifier and I/O module",
    after_help = "Without a subcommand netamp runs the daemon. Logging: --log-level, else \
                  RUST_LOG (tracing's EnvFilter directives), else info."
)]
pub struct Cli {
    /// What to do instead of running the daemon.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Configuration file (TOML) [default: /etc/netamp/netamp.toml when it exists].
    #[arg(long, short = 'c', global = true)]
    pub config: Option<PathBuf>,
    /// State directory (accounts, clips, rules) [default: the config's data_dir, else
    /// $STATE_DIRECTORY (set by systemd), else ./netamp-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Log filter: a level (error, warn, info, debug, trace) or EnvFilter directives;
    /// wins over RUST_LOG.
    #[arg(long)]
    pub log_level: Option<String>,
    /// HTTP listen address.
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// HTTPS listen address (`auto`, an address, or "" for off).
    #[arg(long)]
    pub https: Option<String>,
    /// SIP listen address.
    #[arg(long)]
    pub sip: Option<SocketAddr>,
    /// SIP over TLS listen address (an address, or "" for off).
    #[arg(long)]
    pub sip_tls: Option<String>,
    /// RTSP event-stream listen address (`auto`, an address, or "" for off).
    #[arg(long)]
    pub rtsp: Option<String>,
    /// Output device: default, null, wav:<path>, cpal:<name>, alsa:<pcm>.
    #[arg(long)]
    pub audio_out: Option<String>,
    /// Input device: default, none, wav:<path>[?loop], cpal:<name>, alsa:<pcm>.
    #[arg(long)]
    pub audio_in: Option<String>,
    /// Port layout: c8210, a9210 or combined.
    #[arg(long, default_value = "combined", value_parser = ["c8210", "a9210", "combined"])]
    pub profile: String,
    /// Create this administrator if no account exists yet (USER:PASSWORD).
    #[arg(long)]
    pub admin: Option<String>,
}

/// The operator's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Checks a configuration file (default: the one the daemon would read); exits 0 when
    /// it is valid, 1 with the file, line and reason when not.
    CheckConfig {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Prints the commented default configuration: every key with its default.
    PrintDefaultConfig,
    /// Manages accounts in the state directory while the daemon is stopped (a running
    /// daemon's accounts change through pwdgrp.cgi).
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserAction,
    },
    /// Prints a completion script for a shell.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Prints the manual page (roff; `netamp man | man -l -`).
    Man,
    /// Prints the HTTP route table: one JSON object per line (path, methods, handler).
    Routes,
}

/// `netamp user …`.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Adds an account.
    Add {
        /// Account name (1–14 letters and digits).
        name: String,
        /// Role: admin, operator or viewer.
        #[arg(long, default_value = "viewer", value_parser = ["admin", "operator", "viewer"])]
        role: String,
        /// The password.
        #[command(flatten)]
        password: PasswordArg,
    },
    /// Sets an account's password (a forgotten administrator password is reset so).
    Passwd {
        /// Account name.
        name: String,
        /// The password.
        #[command(flatten)]
        password: PasswordArg,
    },
    /// Removes an account (never the last administrator).
    Remove {
        /// Account name.
        name: String,
    },
    /// Lists the accounts and their roles.
    List,
}

/// Where a password comes from.
#[derive(Debug, Args)]
pub struct PasswordArg {
    /// The password (visible to other users in the process list: prefer the prompt, or
    /// one line on standard input).
    #[arg(long)]
    pub password: Option<String>,
}
