//! The optional remediation (`remediate.onInstall`, `remediate.cronJob`), which
//! runs `netdns-guard remediate`: off by default, and in each variation exactly
//! the objects `remediate_objects` expects.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::certificates::provided_args;
use crate::helm::helms;
use crate::rbac::rules_of;
use crate::remediate_objects::assert_remediate;
use crate::safety::{assert_common, component};
use crate::{RELEASE, args};

/// One remediate variation: the values set and what they must render.
#[derive(Default)]
pub struct RemediateCase {
    pub on_install: bool,
    pub cron: bool,
    pub namespace: Option<&'static str>,
    pub allow_delete: bool,
    /// Extra `--set` values (with the flags they must produce, in `expected_args`).
    pub extra: Vec<&'static str>,
    /// Expected arguments after `remediate` and the scope flag(s).
    pub tail_args: Vec<&'static str>,
}

impl RemediateCase {
    fn helm_args(&self) -> Vec<String> {
        let mut a = args(&["--kube-version", "1.30.0"]);
        let mut set = |v: String| a.extend(["--set".to_owned(), v]);
        set(format!("remediate.onInstall={}", self.on_install));
        set(format!("remediate.cronJob.enabled={}", self.cron));
        set(format!("remediate.allowDelete={}", self.allow_delete));
        if let Some(ns) = self.namespace {
            set(format!("remediate.namespace={ns}"));
        }
        for v in &self.extra {
            set((*v).to_owned());
        }
        a
    }

    pub fn expected_args(&self) -> Vec<String> {
        let mut a = vec!["remediate".to_owned()];
        match self.namespace {
            Some(ns) => a.extend(["--namespace".to_owned(), ns.to_owned()]),
            None => a.push("--all-namespaces".to_owned()),
        }
        a.extend(self.tail_args.iter().map(|s| (*s).to_owned()));
        a
    }

    /// The default tail: every flag from values.yaml's defaults.
    fn default_tail(allow_delete: bool) -> Vec<&'static str> {
        let mut tail = vec![
            "--config",
            "/config/policy.yaml",
            "--webhook-configuration",
            RELEASE,
            "--wait-for-webhook",
            "5m",
            "--max-parallel",
            "1",
            "--timeout",
            "5m",
        ];
        if allow_delete {
            tail.push("--allow-delete");
        }
        tail.push("--fail-on-unfixed=false");
        tail
    }

    /// The rendered object name prefixes: the hook's, then the CronJob's.
    pub fn phases(&self) -> Vec<(bool, &'static str)> {
        let mut phases = Vec::new();
        if self.on_install {
            phases.push((true, "netdns-guard-remediate-hook"));
        }
        if self.cron {
            phases.push((false, "netdns-guard-remediate"));
        }
        phases
    }
}

#[test]
fn remediate_is_off_by_default() {
    for helm in helms() {
        let provided = provided_args(&helm);
        for a in [
            vec![],
            args(&["--set", "certs.mode=cert-manager"]),
            provided,
        ] {
            let r = helm.template(&a);
            assert_remediate(&r, &RemediateCase::default());
        }
    }
}

#[test]
fn remediate_on_install_is_a_post_install_hook_with_exact_rbac() {
    for helm in helms() {
        let case = RemediateCase {
            on_install: true,
            tail_args: RemediateCase::default_tail(false),
            ..Default::default()
        };
        let r = helm.template(&case.helm_args());
        assert_common(&r, 30);
        assert_remediate(&r, &case);
        assert!(
            r.of_kind("CronJob")
                .iter()
                .all(|c| component(c) != "remediate"),
            "{}: no CronJob unless asked",
            r.what
        );
    }
}

#[test]
fn remediate_cron_job_has_ordinary_rbac() {
    for helm in helms() {
        let case = RemediateCase {
            cron: true,
            tail_args: RemediateCase::default_tail(false),
            ..Default::default()
        };
        let r = helm.template(&case.helm_args());
        assert_common(&r, 30);
        assert_remediate(&r, &case);
        let cron = r.named("CronJob", "netdns-guard-remediate");
        assert!(cron["spec"]["timeZone"].is_null());

        // Both at once: separate ServiceAccounts and roles, the time zone passed on.
        let mut case = case;
        case.on_install = true;
        case.extra = vec!["remediate.cronJob.timeZone=Europe/Paris"];
        let r = helm.template(&case.helm_args());
        assert_common(&r, 30);
        assert_remediate(&r, &case);
        let cron = r.named("CronJob", "netdns-guard-remediate");
        assert_eq!(cron["spec"]["timeZone"], "Europe/Paris");
    }
}

#[test]
fn remediate_allow_delete_grants_delete_on_pods_only() {
    for helm in helms() {
        for (on_install, cron) in [(true, false), (false, true), (true, true)] {
            let case = RemediateCase {
                on_install,
                cron,
                allow_delete: true,
                tail_args: RemediateCase::default_tail(true),
                ..Default::default()
            };
            let r = helm.template(&case.helm_args());
            assert_common(&r, 30);
            assert_remediate(&r, &case);
            // delete appears exactly once per phase, on pods.
            let deletes: Vec<PolicyRule> = r
                .of_kind("ClusterRole")
                .into_iter()
                .chain(r.of_kind("Role"))
                .flat_map(rules_of)
                .filter(|rule| rule.verbs.iter().any(|v| v == "delete"))
                .collect();
            assert_eq!(deletes.len(), case.phases().len(), "{}", r.what);
            for rule in deletes {
                assert_eq!(rule.resources.as_deref(), Some(&["pods".to_owned()][..]));
                assert_eq!(rule.api_groups.as_deref(), Some(&[String::new()][..]));
            }
        }
    }
}

#[test]
fn remediate_namespace_uses_a_role_there() {
    for helm in helms() {
        for allow_delete in [false, true] {
            let mut tail = vec![
                "--config",
                "/config/policy.yaml",
                "--webhook-configuration",
                RELEASE,
                "--wait-for-webhook",
                "90s",
                "--max-parallel",
                "3",
                "--timeout",
                "1h30m",
            ];
            if allow_delete {
                tail.push("--allow-delete");
            }
            tail.extend(["--fail-on-unfixed=true", "--dry-run", "--chunk-size=100"]);
            let case = RemediateCase {
                on_install: true,
                cron: true,
                namespace: Some("logging"),
                allow_delete,
                extra: vec![
                    "remediate.waitForWebhook=90s",
                    "remediate.maxParallel=3",
                    "remediate.timeout=1h30m",
                    "remediate.failOnUnfixed=true",
                    "remediate.extraArgs={--dry-run,--chunk-size=100}",
                ],
                tail_args: tail,
            };
            let r = helm.template(&case.helm_args());
            assert_common(&r, 30);
            assert_remediate(&r, &case);
            // Only the webhook configuration rule stays cluster-wide.
            for role in r.of_kind("ClusterRole") {
                if component(role) == "remediate" {
                    let resources: Vec<String> = rules_of(role)
                        .into_iter()
                        .flat_map(|rule| rule.resources.unwrap_or_default())
                        .collect();
                    assert_eq!(resources, ["mutatingwebhookconfigurations"], "{}", r.what);
                }
            }
        }
    }
}

#[test]
fn remediate_refuses_namespaces_the_webhook_never_sees() {
    for helm in helms() {
        for extra in [
            vec!["--set", "remediate.namespace=netdns-guard"],
            vec![
                "--set",
                "remediate.namespace=kube-system",
                "--set",
                "webhook.excludeNamespaces={kube-system}",
            ],
        ] {
            let mut a = args(&["--set", "remediate.onInstall=true"]);
            a.extend(args(&extra));
            let out = helm.template_raw(&a);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains("remediate.namespace"),
                "helm{} template {a:?}: {err}",
                helm.major
            );
            // Off, the value is not checked (nothing is rendered).
            let mut off = args(&["--set", "remediate.onInstall=false"]);
            off.extend(args(&extra));
            assert_remediate(&helm.template(&off), &RemediateCase::default());
        }
    }
}
