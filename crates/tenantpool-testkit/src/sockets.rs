//! The TCP connections this process holds open, read from `/proc`. A server lists a session
//! until its backend has noticed that the client closed the socket, a lag of milliseconds on
//! a busy machine; matching the server's list against the sockets still open here tells the
//! sessions this process holds from those already let go.

use std::collections::HashSet;

/// Local ports of this process's TCP connections to `server_port`, or `None` where `/proc`
/// cannot be read (not Linux, a sandbox).
pub(crate) fn local_ports_connected_to(server_port: u16) -> Option<HashSet<u16>> {
    let inodes: HashSet<u64> = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            target
                .to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect();
    let port = |addr: &str| {
        addr.rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
    };
    let mut ports = HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 {
                continue;
            }
            let (Some(local), Some(remote), Ok(inode)) =
                (port(fields[1]), port(fields[2]), fields[9].parse::<u64>())
            else {
                continue;
            };
            if remote == server_port && inodes.contains(&inode) {
                ports.insert(local);
            }
        }
    }
    Some(ports)
}

/// How many of the sessions whose client ports are `client_ports` this process still holds:
/// a session whose port is unknown, or whose socket cannot be checked, counts as held.
pub(crate) fn held(client_ports: &[Option<u16>], server_port: u16) -> i64 {
    let open = local_ports_connected_to(server_port);
    client_ports
        .iter()
        .filter(|port| match (port, &open) {
            (Some(port), Some(open)) => open.contains(port),
            _ => true,
        })
        .count() as i64
}
