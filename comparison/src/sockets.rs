//! What the kernel says about a server's TCP connections (`/proc/net/tcp`), and the
//! file-descriptor limit (`/proc/self/limits`): the checks that a workload runs with
//! the connections it claims; and the process's CPU time (`/proc/self/stat`).
//!
//! A client that says it keeps 64 connections alive may instead close and reopen
//! them (a pool that keeps fewer idle connections than it has in flight does that);
//! the kernel's table tells: the server's established connections at the end of the
//! timed window, and the closed ones still in `TIME_WAIT`, which a keep-alive run
//! has (next to) none of. Linux only; elsewhere the counts are `None`.

/// The server's TCP connections on one port, from the kernel's table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Connections {
    /// Established connections whose local port is the server's: one per client
    /// connection.
    pub established: usize,
    /// Closed connections to or from the port still in `TIME_WAIT` (for 60 s after
    /// the close, on whichever end closed first): connections that were opened
    /// and closed again.
    pub time_wait: usize,
}

/// The connections of the server listening on `port` (IPv4 and IPv6), or `None`
/// where the kernel's table cannot be read.
pub fn connections(port: u16) -> Option<Connections> {
    let mut found = Connections::default();
    let mut read_any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        read_any = true;
        // `sl local_address rem_address st ...`, addresses as `HEXIP:HEXPORT`.
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace().skip(1);
            let (Some(local), Some(remote), Some(state)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let port_of = |address: &str| {
                address
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            let (local, remote) = (port_of(local), port_of(remote));
            match state {
                "01" if local == Some(port) => found.established += 1,
                "06" if local == Some(port) || remote == Some(port) => found.time_wait += 1,
                _ => {}
            }
        }
    }
    read_any.then_some(found)
}

/// The soft limit on open files of this process, or `None` where it cannot be read
/// (or is unlimited).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Panics with what to do when this process may not open `needed` more files
/// (both ends of every loopback connection are ours); does nothing where the limit
/// cannot be read.
pub fn require_open_files(needed: u64) {
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= needed,
            "this workload opens about {needed} files (both ends of every connection \
             are in this process) but the soft limit is {limit}: raise it with \
             `ulimit -n {needed}` (or higher) in the shell that runs the bench"
        );
    }
}

/// The CPU time this process has used so far, every thread, user and system
/// (`/proc/self/stat`, in clock ticks of 10 ms), or `None` where it cannot be read.
pub fn process_cpu() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: the fields counted from after its `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(std::time::Duration::from_millis(ticks * 10))
}
