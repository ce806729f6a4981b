//! netamp-control: the daemon as a library — its services, the HTTP layer, the state
//! files and the wiring (`daemon.rs`). The `netamp` binary (`main.rs`) only parses the
//! command line and calls [`main`], so everything here is unit-tested with
//! `cargo test -p netamp-control --lib`.

#![forbid(unsafe_code)]
// Handlers return an early HTTP reply as their error; it is moved once per request, so
// the size clippy warns about costs nothing measurable.
#![allow(clippy::result_large_err)]

mod audio;
mod audio_settings;
mod auth;
pub mod certstore;
mod cli;
mod clips;
mod config;
mod daemon;
mod discovery;
mod error;
pub mod event_catalog;
pub mod event_filter;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod identity;
mod io_service;
mod latency;
mod logs;
mod maintenance;
mod operator;
mod player;
pub mod recipients;
mod recorder;
mod rtsp;
pub mod rules;
mod services;
mod shutdown;
mod sip_service;
mod sip_settings;
pub mod soap;
mod sound_level;
mod store;
mod syslog;
mod tls;
mod users;
mod wildcard;

pub use cli::Cli;
pub use daemon::main;
