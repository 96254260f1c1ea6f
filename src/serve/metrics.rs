//! Prometheus metrics of the webhook, served on the plain-HTTP listener.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// CREATE, UPDATE, DELETE, CONNECT, other (empty when the body was not a review).
    pub operation: &'static str,
    /// patched, unchanged, skipped, error, bad_request.
    pub result: &'static str,
}

/// Labels of reload counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// success or failure.
    pub result: &'static str,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Histogram,
    pub containers_patched: Counter,
    pub tls_reloads: Family<ResultLabels, Counter>,
    pub policy_reloads: Family<ResultLabels, Counter>,
    pub certificate_not_after: Gauge,
    pub in_flight: Gauge,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("netdns_guard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission reviews answered, by operation and result",
            requests.clone(),
        );
        // 50 µs .. ~6.6 s: the interesting range is well under a millisecond, but
        // the top bucket must lie above the longest webhook timeout (5 s) so that a
        // p99 alert at any fraction of it can fire (histogram_quantile never reports
        // more than the largest finite bucket).
        let duration = Histogram::new(exponential_buckets(0.000_05, 2.0, 18));
        registry.register(
            "admission_duration_seconds",
            "Time to answer an admission review",
            duration.clone(),
        );
        let containers_patched = Counter::default();
        registry.register(
            "containers_patched",
            "Containers changed by the webhook",
            containers_patched.clone(),
        );
        let tls_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "tls_reloads",
            "Serving certificate reloads, by result",
            tls_reloads.clone(),
        );
        let policy_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "policy_reloads",
            "Policy file reloads, by result",
            policy_reloads.clone(),
        );
        let certificate_not_after = Gauge::default();
        registry.register(
            "certificate_not_after_timestamp_seconds",
            "Expiry of the serving certificate in use (Unix time)",
            certificate_not_after.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "admission_in_flight",
            "Admission reviews being answered",
            in_flight.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        preset_zero_series(&requests, &tls_reloads, &policy_reloads);
        Metrics {
            registry,
            requests,
            duration,
            containers_patched,
            tls_reloads,
            policy_reloads,
            certificate_not_after,
            in_flight,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Counts one reload.
    pub fn reload(family: &Family<ResultLabels, Counter>, ok: bool) {
        family
            .get_or_create(&ResultLabels {
                result: if ok { "success" } else { "failure" },
            })
            .inc();
    }
}

/// Creates, at zero, the series the chart's alerts watch. A labelled series is
/// otherwise born at its first event, and `increase()` cannot see the step from
/// "absent" to 1: the first fail-open admission or failed reload would go unnoticed.
fn preset_zero_series(
    requests: &Family<RequestLabels, Counter>,
    tls_reloads: &Family<ResultLabels, Counter>,
    policy_reloads: &Family<ResultLabels, Counter>,
) {
    for result in ["patched", "unchanged", "skipped", "error"] {
        requests.get_or_create_owned(&RequestLabels {
            operation: "CREATE",
            result,
        });
    }
    requests.get_or_create_owned(&RequestLabels {
        operation: "",
        result: "bad_request",
    });
    for result in ["success", "failure"] {
        tls_reloads.get_or_create_owned(&ResultLabels { result });
        policy_reloads.get_or_create_owned(&ResultLabels { result });
    }
}

/// A request operation as a fixed label value (no allocation per request, and a
/// client cannot grow the label set).
pub fn operation_label(operation: &str) -> &'static str {
    match operation {
        "CREATE" => "CREATE",
        "UPDATE" => "UPDATE",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "" => "",
        _ => "other",
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerted_series_exist_at_zero_before_any_event() {
        let text = Metrics::new().encode();
        for line in [
            "netdns_guard_admission_requests_total{operation=\"CREATE\",result=\"error\"} 0",
            "netdns_guard_admission_requests_total{operation=\"CREATE\",result=\"patched\"} 0",
            "netdns_guard_admission_requests_total{operation=\"\",result=\"bad_request\"} 0",
            "netdns_guard_tls_reloads_total{result=\"failure\"} 0",
            "netdns_guard_policy_reloads_total{result=\"failure\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn largest_latency_bucket_lies_above_the_longest_webhook_timeout() {
        let text = Metrics::new().encode();
        let largest = text
            .lines()
            .filter_map(|l| l.strip_prefix("netdns_guard_admission_duration_seconds_bucket{le=\""))
            .filter_map(|rest| rest.split('"').next()?.parse::<f64>().ok())
            .filter(|le| le.is_finite())
            .fold(0.0_f64, f64::max);
        // Kubernetes caps a webhook's timeoutSeconds at 30, the chart at 5.
        assert!(largest > 5.0, "largest finite bucket {largest}");
    }
}
