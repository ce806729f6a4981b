//! The ALSA library prints its own error lines to stderr (eight for every failed open of
//! `default` on a machine without a sound card) besides the error it returns, which
//! netamp reports once as a warning. This installs ALSA's per-thread error handler, a
//! function that drops them, on the thread that is about to open a device.
//!
//! The one `unsafe` of the engine: ALSA has no safe wrapper for it (the `alsa` crate
//! leaves it out). The global handler (`snd_lib_error_set_handler`) takes a C-variadic
//! function, which stable Rust cannot define; the local one takes a `va_list` pointer, an
//! ordinary parameter.

#![allow(unsafe_code)]

use std::os::raw::{c_char, c_int};

/// Drops one ALSA error message.
unsafe extern "C" fn drop_message(
    _file: *const c_char,
    _line: c_int,
    _function: *const c_char,
    _err: c_int,
    _fmt: *const c_char,
    _args: *mut alsa_sys::__va_list_tag,
) {
}

/// Silences ALSA's own error printing on the calling thread.
pub fn silence_on_this_thread() {
    // SAFETY: `drop_message` has exactly the signature of `snd_local_error_handler_t`,
    // reads none of its arguments and cannot unwind; ALSA keeps only the pointer, and a
    // function item lives for the whole program.
    unsafe {
        alsa_sys::snd_lib_error_set_local(Some(drop_message));
    }
}
