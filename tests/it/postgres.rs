//! A real, throwaway PostgreSQL for the tests: one cluster per test binary,
//! started from the system's packages (`/usr/lib/postgresql/*/bin`), and a
//! fresh database for each test that asks ([`database`]).
//!
//! The cluster listens on a free loopback port with its unix sockets in its
//! own temporary directory, and runs without fsync (nothing here needs to
//! survive a power cut). PostgreSQL refuses to run as root, so as root it
//! runs as the `postgres` system user, in a directory that user owns. It
//! lives as long as the test binary: a small shell waits on a pipe from
//! this process and stops the server (and removes its directory) when the
//! pipe closes, however the binary ends.
//!
//! Without the binaries, a test that needs PostgreSQL is skipped with a
//! message — unless `CI=true`, where it fails, so CI never passes by
//! skipping.
//!
//! A test that restarts the database gets a [`Cluster::dedicated`] of its
//! own, so the shared one never goes away under other tests. [`Proxy`]
//! stands between a server and the database so a test can cut the line (an
//! outage) and restore it.

use std::{
    io::Read,
    net::SocketAddr,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    process::{ChildStdin, Command, Stdio},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// A running cluster.
pub struct Cluster {
    port: u16,
    /// Carries commands to the shell that runs the server; closing it
    /// stops the server.
    lifeline: Mutex<ChildStdin>,
    bin: PathBuf,
    /// Its directory (data, sockets, `server.log`), removed when it stops.
    dir: PathBuf,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The directory of the newest installed PostgreSQL's programs.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").exists() && bin.join("postgres").exists()).then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A command that runs as the `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn start_cluster(bin: &Path) -> Result<Cluster, String> {
    let dir = tempfile::Builder::new()
        .prefix("frontdesk-pg-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?
        .keep();
    if is_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(&dir);
        run(chown, "chown of the cluster directory to postgres")?;
    }
    let data = dir.join("data");
    let mut initdb = as_server_user(&bin.join("initdb"));
    initdb.arg("-D").arg(&data).args([
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-locale",
        "--no-sync",
    ]);
    initdb.current_dir(&dir);
    run(initdb, "initdb")?;

    let port = free_port();
    // The shell starts the server, restarts it on a `restart` line, and
    // when its standard input closes (this process ending, or the cluster
    // dropped) stops it and cleans up.
    let script = r#"
        start() {
            "$1/postgres" -D "$2/data" -p "$3" -k "$2" -h 127.0.0.1 \
                -c fsync=off -c full_page_writes=off -c max_connections=300 \
                -c shared_buffers=32MB >>"$2/server.log" 2>&1 &
            pid=$!
        }
        start "$@"
        while read -r command; do
            if [ "$command" = restart ]; then
                kill -INT "$pid"
                wait "$pid"
                start "$@"
            fi
        done
        kill -INT "$pid" 2>/dev/null
        wait "$pid"
        rm -rf "$2"
    "#;
    let mut shell = as_server_user(Path::new("/bin/sh"));
    shell
        .args(["-c", script, "sh"])
        .arg(bin)
        .arg(&dir)
        .arg(port.to_string())
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = shell
        .spawn()
        .map_err(|e| format!("starting postgres: {e}"))?;
    let lifeline = child.stdin.take().expect("piped stdin");
    // Reap the shell when it ends, so it never lingers as a zombie.
    std::thread::spawn(move || {
        let _ = child.wait();
    });

    let cluster = Cluster {
        port,
        lifeline: Mutex::new(lifeline),
        bin: bin.to_owned(),
        dir,
    };
    cluster.wait_ready()?;
    Ok(cluster)
}

impl Cluster {
    /// Whether the server accepts connections now.
    fn is_ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    fn log(&self) -> String {
        let mut log = String::new();
        let _ = std::fs::File::open(self.dir.join("server.log"))
            .and_then(|mut f| f.read_to_string(&mut log));
        log
    }

    /// Waits until the server accepts connections (60 s at most).
    fn wait_ready(&self) -> Result<(), String> {
        let started = Instant::now();
        while !self.is_ready() {
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "postgres did not become ready in 60 s:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// A cluster of its own (for a test that restarts it), stopped and
    /// removed when dropped; `None` as for [`database`].
    pub fn dedicated() -> Option<Self> {
        cluster_port()?;
        let bin = bin_dir().expect("the shared cluster found the binaries");
        Some(start_cluster(&bin).expect("a dedicated cluster"))
    }

    /// A fresh database on this cluster, as a `DATABASE_URL`.
    pub async fn database(&self) -> String {
        create_database(self.port).await
    }

    /// Stops the server (a fast shutdown: every client is told and
    /// disconnected) and starts it again on the same port and data; returns
    /// once it accepts connections. Waits without blocking the runtime, so
    /// the servers under test see their connections close meanwhile.
    pub async fn restart(&self) {
        use std::io::Write;
        const UP: &str = "ready to accept connections";
        let starts = self.log().matches(UP).count();
        {
            let mut lifeline = self.lifeline.lock().unwrap();
            writeln!(lifeline, "restart").expect("the cluster's shell is running");
            lifeline.flush().unwrap();
        }
        // Back when the new server has said so in its log and answers.
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if self.log().matches(UP).count() > starts && self.is_ready() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the cluster did not come back:\n{}", self.log());
    }
}

/// The port of the cluster, starting it on first use; `None` (the test
/// should return) when PostgreSQL is not installed and `CI` is not `true`.
fn cluster_port() -> Option<u16> {
    let cluster = CLUSTER.get_or_init(|| match bin_dir() {
        None => Err(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); \
                     install it with `apt-get install postgresql`"
                .into(),
        ),
        Some(bin) => start_cluster(&bin),
    });
    match cluster {
        Ok(c) => Some(c.port),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL tests cannot run in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// The URL of a database on the test cluster (`postgres` is the admin one).
pub fn url(port: u16, database: &str) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/{database}")
}

/// A fresh, empty database on the cluster, as a `DATABASE_URL`; `None`
/// when PostgreSQL is not installed here (the test is skipped; in CI it
/// fails instead).
pub async fn database() -> Option<String> {
    Some(create_database(cluster_port()?).await)
}

async fn create_database(port: u16) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let (client, conn) = tokio_postgres::connect(&url(port, "postgres"), tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster");
    let conn = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    drop(client);
    let _ = conn.await;
    url(port, &name)
}

/// The same URL, reaching the database through `proxy` instead.
pub fn via(url: &str, proxy: &Proxy) -> String {
    let (head, rest) = url.split_once('@').expect("a URL with a user");
    let (_, path) = rest.split_once('/').expect("a URL with a database");
    format!("{head}@127.0.0.1:{}/{path}", proxy.addr.port())
}

/// A TCP relay to the database that a test can cut and restore.
pub struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Relays a free loopback port to the database of `url`.
    pub async fn start(url: &str) -> Self {
        let port: u16 = url
            .split_once("@127.0.0.1:")
            .and_then(|(_, rest)| rest.split_once('/'))
            .and_then(|(p, _)| p.parse().ok())
            .expect("a test cluster URL");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            addr: listener.local_addr().unwrap(),
            target: SocketAddr::from(([127, 0, 0, 1], port)),
            tasks: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target, Arc::clone(&self.tasks));
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(relay);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// The outage: every open connection is dropped and new ones are refused.
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// The database is back, on the same address.
    pub async fn restore(&self) {
        // The port was just released; give the kernel a moment if needed.
        for _ in 0..50 {
            if let Ok(listener) = TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not listen on {} again", self.addr);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
