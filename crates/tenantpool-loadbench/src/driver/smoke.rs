//! The smoke run's verdict (CI runs it): every variant served, and C1 and C2 stayed within
//! their budget with no failed request.

use crate::variant::Variant;

use super::variant_run::Row;
use super::{log, Plan};

/// Whether `rows` pass; logs every check that fails.
pub fn passed(plan: &Plan, rows: &[Row]) -> bool {
    let mut ok = true;
    for r in rows {
        if r.ok_rps <= 0.0 {
            log(format!(
                "SMOKE FAIL: {} served no successful request",
                r.variant
            ));
            ok = false;
        }
        if matches!(r.variant, Variant::C1 | Variant::C2 | Variant::C1X) {
            if r.max_conns > plan.budget as i64 || r.over_budget > 0 {
                log(format!(
                    "SMOKE FAIL: {} opened {} connections, budget {}",
                    r.variant, r.max_conns, plan.budget
                ));
                ok = false;
            }
            if r.samples == 0 {
                log(format!(
                    "SMOKE FAIL: {}: the sampler took no sample",
                    r.variant
                ));
                ok = false;
            }
            let failed = r.failed_requests();
            if failed > 0 {
                log(format!(
                    "SMOKE FAIL: {} answered {failed} requests with an error",
                    r.variant
                ));
                ok = false;
            }
        }
    }
    ok
}
