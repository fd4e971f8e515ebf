//! A private PostgreSQL cluster, created by the test in /tmp and removed by a `Drop` guard
//! (also when the test fails): the one server this suite may stop and restart. The shared
//! server on 5432 is never touched.
//!
//! `initdb` and `pg_ctl` come from `/usr/lib/postgresql/<version>/bin` (the newest version).
//! PostgreSQL refuses to run as root, so as root they run as `postgres` through `runuser`, on
//! a data directory owned by `postgres`; as any other user they run directly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// A running private cluster: trust authentication, `127.0.0.1:<port>`, its Unix socket in its
/// own directory under /tmp.
pub struct Cluster {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Why no cluster could be made.
#[derive(Debug)]
pub struct NoCluster(pub String);

impl std::fmt::Display for NoCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn newest_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

impl Cluster {
    /// Creates and starts a cluster.
    pub fn start(tag: &str) -> Result<Self, NoCluster> {
        let bin = newest_bin().ok_or_else(|| {
            NoCluster("no initdb under /usr/lib/postgresql/*/bin (install postgresql)".into())
        })?;
        let as_postgres = is_root();
        if as_postgres && !Path::new("/usr/sbin/runuser").exists() && which("runuser").is_none() {
            return Err(NoCluster(
                "running as root, and runuser (util-linux) is missing: initdb refuses to run as root"
                    .into(),
            ));
        }
        let root = std::env::temp_dir().join(format!("tpr_pg_{tag}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root)
            .map_err(|e| NoCluster(format!("creating {}: {e}", root.display())))?;
        let mut cluster = Self {
            bin,
            data: root.join("data"),
            root,
            port: free_port(),
            as_postgres,
        };
        if as_postgres {
            let out = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&cluster.root)
                .output()
                .map_err(|e| NoCluster(format!("chown: {e}")))?;
            if !out.status.success() {
                return Err(NoCluster(format!("chown: {}", text(&out))));
            }
        }
        let data = cluster.data.display().to_string();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )?;
        if !out.status.success() {
            return Err(NoCluster(format!("initdb failed: {}", text(&out))));
        }
        // A free port may be taken between the probe and the start: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            match cluster.pg_ctl_start() {
                Ok(()) => return Ok(cluster),
                Err(e) => {
                    last = e;
                    cluster.port = free_port();
                }
            }
        }
        Err(NoCluster(format!("pg_ctl start failed: {last}")))
    }

    /// `postgres://postgres@127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<Output, NoCluster> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args)
            .current_dir(&self.root)
            .output()
            .map_err(|e| NoCluster(format!("running {}: {e}", exe.display())))
    }

    fn options(&self) -> String {
        format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=60",
            self.port,
            self.root.display()
        )
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let data = self.data.display().to_string();
        let log = self.root.join("server.log").display().to_string();
        let opts = self.options();
        let out = self
            .run(
                "pg_ctl",
                &[
                    "-D", &data, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
                ],
            )
            .map_err(|e| e.0)?;
        if out.status.success() {
            Ok(())
        } else {
            let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
            Err(format!("{} / log: {log}", text(&out)))
        }
    }

    /// Stops the server (`-m fast`: sessions are terminated, like a restart in production).
    pub fn stop(&self) {
        let data = self.data.display().to_string();
        let out = self
            .run(
                "pg_ctl",
                &["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"],
            )
            .expect("pg_ctl stop");
        assert!(out.status.success(), "pg_ctl stop: {}", text(&out));
    }

    /// Starts the stopped server again; returns when it accepts connections.
    pub fn start_again(&self) -> Instant {
        self.pg_ctl_start().expect("pg_ctl start");
        Instant::now()
    }

    /// Creates databases on the cluster.
    pub async fn create_databases(
        &self,
        names: &[String],
    ) -> Result<(), tenantpool_testkit::Error> {
        use tenantpool_testkit::TestServer;
        let admin = tenantpool_testkit::PgServer::connect(&self.base_url()).await?;
        for name in names {
            admin.create_database(name).await?;
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.exists())
    })
}
