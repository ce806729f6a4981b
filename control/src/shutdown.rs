//! SIGTERM and SIGINT, handled on a thread of their own so nothing the runtime is doing
//! can hold the process: the first signal starts the orderly shutdown (HTTP stops
//! accepting, open connections get [`crate::SHUTDOWN_GRACE`], clips stop, outputs go to
//! their normal state) and a watchdog that ends the process [`BOUND`] after the signal
//! whatever is still running (a handler that never yields, a stream that never ends, a
//! blocking task); a second signal ends it at once.

use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tokio::sync::Notify;

/// The longest a signalled netamp lives on.
pub const BOUND: Duration = Duration::from_secs(5);

/// Installs the handlers; the returned [`Notify`] is woken (once) by the first signal.
pub fn install() -> std::io::Result<Arc<Notify>> {
    let mut signals = Signals::new([SIGTERM, SIGINT])?;
    let notify = Arc::new(Notify::new());
    let wake = notify.clone();
    std::thread::Builder::new()
        .name("netamp-signals".into())
        .spawn(move || {
            let mut first = true;
            for signal in signals.forever() {
                if !first {
                    eprintln!("netamp: signal {signal} again: exiting now");
                    std::process::exit(1);
                }
                first = false;
                // A stored permit: a shutdown future that starts waiting later still wakes.
                wake.notify_one();
                let watchdog = std::thread::Builder::new()
                    .name("netamp-shutdown-watchdog".into())
                    .spawn(|| {
                        std::thread::sleep(BOUND);
                        eprintln!(
                            "netamp: still running {} s after the signal: exiting",
                            BOUND.as_secs()
                        );
                        std::process::exit(1);
                    });
                if watchdog.is_err() {
                    std::process::exit(1);
                }
            }
        })?;
    Ok(notify)
}
