//! `netamp`: the daemon. The command line is parsed here; everything else is the
//! netamp-control library.

#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    netamp_control::main(netamp_control::Cli::parse());
}
