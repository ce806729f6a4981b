//! The mixer law: which sources are heard at full level and which are ducked.

/// Highest priority a source may carry.
pub const MAX_PRIORITY: u8 = 9;

/// Returns the highest priority among active sources, or `None` when none is active.
pub fn top_priority(priorities: impl Iterator<Item = u8>) -> Option<u8> {
    priorities.max()
}

/// The gain a source of `priority` gets when the highest active priority is `top`.
///
/// Equal priorities mix at full level; lower ones get `duck_gain` (0 mutes them).
pub fn duck_target(priority: u8, top: u8, duck_gain: f32) -> f32 {
    if priority >= top {
        1.0
    } else {
        duck_gain
    }
}

/// Adds `src` scaled by per-sample gains from `gain` into `dst`.
#[inline]
pub fn mix_into(dst: &mut [f32], src: &[f32], mut gain: impl FnMut() -> f32) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += *s * gain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn law() {
        assert_eq!(top_priority([5u8, 8, 1].into_iter()), Some(8));
        assert_eq!(top_priority(std::iter::empty()), None);
        assert_eq!(duck_target(5, 8, 0.0), 0.0);
        assert_eq!(duck_target(8, 8, 0.0), 1.0);
        assert_eq!(duck_target(5, 8, 0.25), 0.25);
    }

    #[test]
    fn mixes() {
        let mut d = [1.0f32; 4];
        mix_into(&mut d, &[1.0, 2.0, 3.0, 4.0], || 0.5);
        assert_eq!(d, [1.5, 2.0, 2.5, 3.0]);
    }
}
