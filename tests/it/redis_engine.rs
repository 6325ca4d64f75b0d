//! A real `redis-server` for the tests that share live calls between
//! instances: one per test, on a free loopback port, with nothing saved to
//! disk, stopped when the handle drops.
//!
//! Without `redis-server` on the PATH these tests skip with a message, so a
//! developer machine without Redis still runs the rest; with `CI=true` they
//! fail instead, because CI installs Redis and must run them.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running Redis; killed on drop.
pub struct Redis {
    child: Child,
    /// `redis://127.0.0.1:<port>/`
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Redis, or says why the test is skipped (`None`).
pub fn start(test: &str) -> Option<Redis> {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{test}: redis-server is not installed; CI must install it (apt-get install redis-server)"
            );
        }
        eprintln!("skipping {test}: redis-server is not installed (apt-get install redis-server)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let redis = Redis {
        child,
        url: format!("redis://127.0.0.1:{port}/"),
        _dir: dir,
    };
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let client = redis::Client::open(redis.url.as_str()).unwrap();
        if let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200))
            && redis::cmd("PING").query::<String>(&mut conn).is_ok()
        {
            return Some(redis);
        }
        assert!(
            Instant::now() < until,
            "redis-server did not answer on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
