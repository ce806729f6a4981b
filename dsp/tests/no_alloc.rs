//! The speaker model's streaming half runs where a sense device delivers samples (a
//! real-time thread): feeding it voltage, across its FFT blocks, allocates nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use netamp_dsp::speaker_model::{CurrentFilter, Driver, Load, TAPS};

/// Counts allocations made by the current thread while counting is switched on.
struct CountingAlloc;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    let _ = COUNTING.try_with(|c| {
        if c.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        bump();
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn the_current_filter_allocates_nothing_while_it_streams() {
    let load = Load {
        drivers: vec![Driver {
            re: 6.2,
            le: 0.4e-3,
            fs: 55.0,
            qms: 3.0,
            qes: 0.435,
        }],
        line: 0.3,
    };
    let mut filter = CurrentFilter::new(&load, 48_000.0);
    let v: Vec<f32> = (0..480).map(|k| (k as f32 * 0.05).sin() * 0.5).collect();
    let mut i = vec![0f32; 480];
    COUNT.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    // Several of the filter's blocks: each one runs two FFTs.
    for _ in 0..(4 * TAPS / 480) {
        filter.process_into(&v, &mut i);
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(COUNT.with(|n| n.get()), 0, "allocations while streaming");
    assert!(i.iter().any(|x| *x != 0.0), "it did stream");
}
