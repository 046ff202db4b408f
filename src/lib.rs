//! Owner of the workspace's integration tests, examples and benches.
