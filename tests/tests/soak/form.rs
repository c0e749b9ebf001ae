//! The short (CI) and long (by hand) forms and the random seed.

/// Whether `RBLFLEET_SOAK=long` asks for the long form. Any other value
/// than `short`, `long` or none is a mistake worth stopping for.
pub fn long() -> bool {
    match std::env::var("RBLFLEET_SOAK").as_deref() {
        Err(_) | Ok("" | "short") => false,
        Ok("long") => true,
        Ok(other) => panic!("RBLFLEET_SOAK={other:?}: expected \"short\" (the default) or \"long\""),
    }
}

/// A random generator for the kill schedule, seeded from
/// `RBLFLEET_SOAK_SEED` when set so that a failing schedule can be replayed.
/// The seed is printed.
pub fn rng(test: &str) -> fastrand::Rng {
    let seed = match std::env::var("RBLFLEET_SOAK_SEED") {
        Ok(text) => text.parse().unwrap_or_else(|_| panic!("RBLFLEET_SOAK_SEED={text:?} is not a u64")),
        Err(_) => fastrand::u64(..),
    };
    println!("{test}: RBLFLEET_SOAK_SEED={seed}");
    fastrand::Rng::with_seed(seed)
}
