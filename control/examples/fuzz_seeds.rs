//! Writes the fuzzing harnesses' built-in seeds to `<dir>/<target>/seed-<n>`, the start
//! of each target's corpus (`scripts/fuzz` adds clip files made with ffmpeg).

fn main() -> std::io::Result<()> {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: fuzz_seeds <corpus directory>");
        std::process::exit(2);
    };
    let dir = std::path::PathBuf::from(dir);
    for (name, _) in netamp_control::fuzzing::TARGETS {
        let target = dir.join(name);
        std::fs::create_dir_all(&target)?;
        for (n, seed) in netamp_control::fuzzing::seeds(name).iter().enumerate() {
            std::fs::write(target.join(format!("seed-{n}")), seed)?;
        }
    }
    Ok(())
}
