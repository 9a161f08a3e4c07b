//! Test support shared by the store's conformance suite and the server's `spawn_app`:
//! a fresh database per test on either engine, dropped afterwards.

use std::path::PathBuf;

/// Where PostgreSQL tests run; CI sets it so they cannot skip.
pub fn postgres_base_url() -> String {
    std::env::var("POSADA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is removed when dropped.
pub struct TestDatabase {
    pub url: String,
    pub engine: Engine,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub async fn new(engine: Engine) -> TestDatabase {
        let suffix: u64 = rand::random();
        match engine {
            Engine::Sqlite => {
                let path = std::env::temp_dir().join(format!("posada-test-{suffix:016x}.db"));
                TestDatabase { url: format!("sqlite://{}", path.display()), engine, cleanup: Cleanup::File(path) }
            }
            Engine::Postgres => {
                let admin_url = postgres_base_url();
                let name = format!("posada_test_{suffix:016x}");
                let mut conn = connect_admin(&admin_url).await;
                sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
                    .await
                    .expect("create test database");
                let url = replace_db_name(&admin_url, &name);
                TestDatabase { url, engine, cleanup: Cleanup::Postgres { admin_url, name } }
            }
        }
    }
}

async fn connect_admin(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(url).await {
        Ok(c) => c,
        Err(e) => panic!(
            "\n\n*** PostgreSQL is not reachable at {url}: {e}\n*** Start it, or point POSADA_TEST_DATABASE_URL at a server.\n\n"
        ),
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host_part = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside an async test: use a thread with its own runtime.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                    rt.block_on(async {
                        use sqlx::Connection;
                        let mut conn = sqlx::PgConnection::connect(&admin_url).await.ok()?;
                        sqlx::Executor::execute(
                            &mut conn,
                            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                        )
                        .await
                        .ok()
                    })
                })
                .join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            super::replace_db_name("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_db_name("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(super::replace_db_name("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
