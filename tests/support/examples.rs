//! Finding the example binaries that cargo builds beside the test binaries.

use std::path::PathBuf;

/// The path of the built example `name` (integration tests run from
/// `target/<profile>/deps`; cargo puts examples in `target/<profile>/examples`).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "build the examples first: {}",
        path.display()
    );
    path
}
