//! The admin `/metrics` endpoint: the bearer token first (401 without it), then the
//! Prometheus text with HELP lines and the registry's series.

use tenantpool::SqliteConnection;

use crate::common::{registry, settings, tenant};
use crate::{admin, get_metrics, recorder, serial, sqlite_template, TOKEN};

#[actix_rt::test]
async fn the_endpoint_needs_the_bearer_token() {
    let _serial = serial().await;
    // The recorder comes first: a pool registers its histograms when it is built.
    recorder();
    let (_dir, directory) = sqlite_template("endpoint", ["acme"]);
    let r = registry::<SqliteConnection>(settings(4, 1), directory);
    drop(r.get(&tenant("acme")).await.expect("checkout"));
    let admin = admin("sq_endpoint", r.clone());

    for auth in [
        None,
        Some("Bearer wrong"),
        Some(&format!("Basic {TOKEN}")[..]),
    ] {
        let (status, text) = get_metrics(&admin, auth).await;
        assert_eq!(status, 401, "{auth:?}");
        assert!(!text.0.contains("tenantpool_"), "{auth:?}: {}", text.0);
    }
    let (status, text) = get_metrics(&admin, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        text.value(
            "tenantpool_checkouts_total",
            &[("registry", "sq_endpoint"), ("backend", "sqlite")]
        ),
        1.0
    );
    assert!(
        text.0
            .contains("# HELP tenantpool_checkouts_total Checkouts served."),
        "{}",
        text.0
    );
    assert!(
        text.0
            .contains("# TYPE tenantpool_checkout_wait_seconds histogram"),
        "{}",
        text.0
    );
}
