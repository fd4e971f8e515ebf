//! The admin stats answer on real registries (SQLite files): every snapshot with its top
//! lists, one tenant's figures per registry (`null` where it is not started), and the 400 and
//! 404 replies. The adapters' own tests check the same answer over HTTP.

use serde_json::{json, Value};
use tenantpool_core::{Registry, Settings, SqliteConnection, TenantId};
use tenantpool_resolve::{AdminStats, StatsReply};

fn registry(name: &str) -> Registry<SqliteConnection> {
    let dir = std::env::temp_dir()
        .join("tenantpool-tests")
        .join(format!("resolve-admin-stats-{name}-{}", std::process::id()));
    let settings = Settings::from_toml_str(&format!(
        "[directory.template]\nurl = \"sqlite://{}/{{tenant}}.db\"\ncreate_missing = true\nallow = [\"acme\", \"globex\"]",
        dir.display()
    ))
    .unwrap();
    Registry::<SqliteConnection>::builder(settings)
        .build()
        .unwrap()
}

fn json_of(reply: StatsReply) -> Value {
    serde_json::to_value(reply).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_every_snapshot_one_tenants_figures_per_registry_400_and_404() {
    let (primary, replica) = (registry("primary"), registry("replica"));
    let mut stats = AdminStats::default();
    stats.add("primary", primary.clone());
    stats.add("replica", replica.clone());
    // acme holds two connections of the primary: the start's, and one opened by a checkout.
    let acme = TenantId::parse("acme").unwrap();
    let held = (
        primary.get(&acme).await.unwrap(),
        primary.get(&acme).await.unwrap(),
    );

    let all = json_of(stats.answer(None).unwrap());
    let top = &all["primary"]["tenants"];
    assert_eq!(top["by_in_use"][0]["tenant"], "acme");
    assert_eq!(top["by_in_use"][0]["in_use"], 2);
    assert_eq!(top["by_wait"][0]["waits"], 1);
    assert_eq!(
        all["replica"]["tenants"],
        json!({"by_in_use": [], "by_wait": []})
    );
    // Other parameters change nothing.
    assert_eq!(
        json_of(stats.answer(Some("pretty=1")).unwrap())["primary"]["backend"],
        "sqlite"
    );

    let one = json_of(stats.answer(Some("tenant=acme")).unwrap());
    let figures = &one["primary"];
    assert_eq!(figures["tenant"], "acme");
    assert_eq!(
        (
            &figures["in_use"],
            &figures["waiting"],
            &figures["waits"],
            &figures["timeouts"]
        ),
        (&json!(2), &json!(0), &json!(1), &json!(0))
    );
    assert!(figures["wait_seconds"].as_f64().unwrap() > 0.0);
    assert!(figures["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(figures["target"].as_str().unwrap().starts_with("sqlite://"));
    assert_eq!(one["replica"], Value::Null, "acme never started there");

    let malformed = stats.answer(Some("tenant=Not_A_Key")).unwrap_err();
    assert_eq!(
        (malformed.status, malformed.body.tenant.as_deref()),
        (400, None)
    );
    assert!(
        malformed.body.error.starts_with("invalid tenant key"),
        "{}",
        malformed.body.error
    );
    let idle = stats.answer(Some("tenant=globex")).unwrap_err();
    assert_eq!(idle.status, 404);
    assert_eq!(
        idle.body.error,
        "tenant \"globex\" is not started in any registry"
    );
    assert_eq!(idle.body.tenant.as_deref(), Some("globex"));

    drop(held);
    let one = json_of(stats.answer(Some("tenant=acme")).unwrap());
    assert_eq!(one["primary"]["in_use"], 0);
    primary.shutdown(std::time::Duration::from_secs(5)).await;
    replica.shutdown(std::time::Duration::from_secs(5)).await;
}
