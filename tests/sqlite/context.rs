//! Work outside requests on SQLite: a fan-out over every listed tenant runs each job on its
//! own tenant's file, through a failing and a panicking job, and leaves no file open once its
//! pools are idle past `idle_timeout`.

use std::time::Duration;

use tenantpool::{DatabaseUrl, FanOutError, StaticDirectory, TenantTarget};

use crate::common::wait_until;
use crate::{data_dir, file_url, open_db_fds, registry, settings, tenant, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_runs_each_tenant_on_its_own_file_through_failures_and_panics() {
    let dir = data_dir("fan_out");
    let mut directory = StaticDirectory::new();
    let keys = ["fa", "fb", "fc", "fd", "fe"];
    for key in keys {
        let url = DatabaseUrl::parse(&file_url(&dir, key)).expect("url");
        directory.insert(tenant(key), TenantTarget::database(url).creating_missing());
    }
    let mut s = settings(10, 2);
    s.pool.idle_timeout = Duration::from_millis(500);
    let r = registry(s, directory);
    let r2 = r.clone();
    let outcomes = r
        .fan_out_all(2, move |key| {
            let r = r2.clone();
            async move {
                let mut conn = r.get_current().await.map_err(|e| e.to_string())?;
                let file = text(
                    &mut conn,
                    "SELECT file AS value FROM pragma_database_list WHERE name = 'main'",
                )
                .await;
                match key.as_str() {
                    "fb" => Err("failed on purpose".to_string()),
                    "fd" => panic!("panicked on purpose"),
                    _ => Ok(file),
                }
            }
        })
        .await
        .expect("a static directory lists its tenants");
    assert_eq!(outcomes.len(), keys.len());
    for o in outcomes {
        match (o.tenant.as_str(), o.result) {
            ("fb", Err(FanOutError::Failed(e))) => assert_eq!(e, "failed on purpose"),
            ("fd", Err(FanOutError::Panicked(m))) => assert_eq!(m, "panicked on purpose"),
            (key, Ok(file)) => assert!(file.ends_with(&format!("/{key}.db")), "{key}: {file}"),
            (key, other) => panic!("{key}: {other:?}"),
        }
    }
    // Idle pools close: no tenant file stays open.
    let (open, waited) = wait_until(
        Duration::from_secs(10),
        || async { open_db_fds(&dir) },
        |n| matches!(n, Some(0) | None),
    )
    .await;
    assert!(
        matches!(open, Some(0) | None),
        "{open:?} files open after {waited:?}"
    );
    r.shutdown(Duration::from_secs(5)).await;
}
