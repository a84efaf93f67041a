//! The executor's own port, closed to its sandbox users.
//!
//! The shared secret guards the executor's API, and no sandbox can read it; this makes a leaked
//! secret not enough. At start the executor (root, with nftables) installs one table of its own,
//! `inet edgerun_<name>`, whose output hook rejects TCP connections from its sandbox uids to its
//! listening port and to any other port it is told to close (`EDGERUN_CLOSED_PORTS`: the dev stack
//! closes the API's own port, whose Local R2 routes answer before the Worker), whatever the
//! address. The table is replaced at the next start and removed at a graceful stop; it names the
//! uid range, so executors with other work roots keep their own.
use std::io::{self, Write};
use std::process::{Command, Stdio};

/// One executor's table.
#[derive(Debug, Clone)]
pub struct Firewall {
    table: String,
}

fn nft(script: &str) -> io::Result<()> {
    let mut child = Command::new("nft").args(["-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
    child.stdin.take().expect("piped").write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("nft: {}", String::from_utf8_lossy(&out.stderr).trim())))
    }
}

impl Firewall {
    /// Closes `ports` to the uids `[uid_from, uid_to)`, in a table named after `name`.
    pub fn close(name: &str, uid_from: u32, uid_to: u32, ports: &[u16]) -> io::Result<Firewall> {
        if ports.is_empty() || uid_to <= uid_from {
            return Err(io::Error::other("nothing to close"));
        }
        let table = format!("edgerun_{name}");
        let ports = ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ");
        // `add` then `delete` makes the replacement work whether or not the table exists.
        let script = format!(
            "add table inet {table}\ndelete table inet {table}\ntable inet {table} {{\n  chain out {{\n    type filter hook output priority 0; policy accept;\n    meta skuid {uid_from}-{} tcp dport {{ {ports} }} reject with tcp reset\n  }}\n}}\n",
            uid_to - 1
        );
        nft(&script)?;
        Ok(Firewall { table })
    }

    /// Removes the table (a graceful stop).
    pub fn open(&self) {
        let _ = nft(&format!("delete table inet {}\n", self.table));
    }
}

/// Ports named in `EDGERUN_CLOSED_PORTS` (comma-separated), besides the executor's own.
pub fn extra_ports() -> Result<Vec<u16>, String> {
    let raw = std::env::var("EDGERUN_CLOSED_PORTS").unwrap_or_default();
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("EDGERUN_CLOSED_PORTS must list port numbers, got {s:?}")))
        .collect()
}
