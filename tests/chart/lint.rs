//! `helm lint --strict` passes in every certificate mode and variation, and
//! values.schema.json rejects bad values (naming the offending key).

use crate::args;
use crate::certificates::provided_args;
use crate::helm::helms;

#[test]
fn lint_strict_passes_in_every_mode() {
    for helm in helms() {
        let mut cases = vec![
            vec![],
            args(&["--set", "certs.mode=cert-manager"]),
            args(&[
                "--set",
                "certs.mode=cert-manager",
                "--set",
                "certs.certManager.issuerRef.name=corp",
                "--set",
                "certs.certManager.issuerRef.kind=ClusterIssuer",
            ]),
            args(&[
                "--set",
                "metrics.serviceMonitor.enabled=true",
                "--set",
                "networkPolicy.enabled=true",
                "--set",
                "tests.mutationNamespace=e2e",
            ]),
            args(&["--set", "webhook.matchConditions.enabled=false"]),
            args(&[
                "--set",
                "remediate.onInstall=true",
                "--set",
                "remediate.cronJob.enabled=true",
            ]),
            args(&[
                "--set",
                "remediate.onInstall=true",
                "--set",
                "remediate.cronJob.enabled=true",
                "--set",
                "remediate.namespace=logging",
                "--set",
                "remediate.allowDelete=true",
            ]),
        ];
        cases.push(provided_args(&helm));
        for case in cases {
            let out = helm.lint(&case);
            assert!(
                out.status.success(),
                "helm{} lint --strict {case:?} failed:\n{}{}",
                helm.major,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn bad_values_are_rejected_by_the_schema() {
    for helm in helms() {
        let provided_no_bundle = helm.values_file("certs: {mode: provided, existingSecret: x}\n");
        let entry = |image: &str| {
            helm.values_file(&format!(
                "policy: {{catalog: {{add: [{{id: a, name: A, risk: pure-go, reason: r, images: [\"{image}\"]}}]}}}}\n"
            ))
        };
        // A pattern pinned to a digest is accepted; a tag or another qualifier is not.
        let pinned = entry(&format!("corp/agent@sha256:{}", "0a".repeat(32)));
        let out = helm.lint(&["-f".into(), pinned.display().to_string()]);
        assert!(
            out.status.success(),
            "helm{} lint refused a pinned pattern: {out:?}",
            helm.major
        );
        let tagged = entry("corp/agent@latest");
        let short = entry("corp/agent@sha256:0a");
        let cases: Vec<(Vec<String>, &str)> = vec![
            (args(&["--set", "certs.mode=bogus"]), "mode"),
            (
                args(&["--set", "webhook.timeoutSeconds=30"]),
                "timeoutSeconds",
            ),
            (
                args(&["--set", "webhook.timeoutSeconds=0"]),
                "timeoutSeconds",
            ),
            (args(&["--set", "certs.mode=provided"]), "caBundle"),
            (
                vec!["-f".into(), provided_no_bundle.display().to_string()],
                "caBundle",
            ),
            (args(&["--set", "replicaCount=0"]), "replicaCount"),
            (args(&["--set", "replicaCount=two"]), "replicaCount"),
            (args(&["--set", "unknownTopLevel=1"]), "unknownTopLevel"),
            (args(&["--set", "certs.bogus=1"]), "bogus"),
            (args(&["--set", "policy.strategy=bogus"]), "strategy"),
            (args(&["--set", "policy.strategee=env"]), "strategee"),
            (
                args(&["--set", "policy.resolverConfig.goFloor=1.18"]),
                "goFloor",
            ),
            (
                args(&["--set", "webhook.matchConditions.enabled=maybe"]),
                "enabled",
            ),
            (args(&["--set", "image.digest=latest"]), "digest"),
            (vec!["-f".into(), tagged.display().to_string()], "images"),
            (vec!["-f".into(), short.display().to_string()], "images"),
            (args(&["--set", "image.pullPolicy=Sometimes"]), "pullPolicy"),
            (args(&["--set", "server.logFormat=xml"]), "logFormat"),
            (
                args(&["--set", "policy.selectors[0].matchLabels=null"]),
                "selectors",
            ),
            (args(&["--set", "remediate.bogus=1"]), "bogus"),
            (args(&["--set", "remediate.onInstall=yes"]), "onInstall"),
            (
                args(&["--set", "remediate.cronJob.enabled=maybe"]),
                "enabled",
            ),
            (args(&["--set", "remediate.maxParallel=0"]), "maxParallel"),
            (args(&["--set", "remediate.timeout=5minutes"]), "timeout"),
            (
                args(&["--set", "remediate.waitForWebhook=soon"]),
                "waitForWebhook",
            ),
            (args(&["--set", "remediate.namespace=Bad_NS"]), "namespace"),
            (
                args(&["--set", "remediate.activeDeadlineSeconds=5"]),
                "activeDeadlineSeconds",
            ),
        ];
        for (case, key) in cases {
            let out = helm.lint(&case);
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !out.status.success(),
                "helm{} lint accepted {case:?}:\n{text}",
                helm.major
            );
            assert!(
                text.contains(key),
                "helm{} lint {case:?}: error does not name {key}:\n{text}",
                helm.major
            );
            let out = helm.template_raw(&case);
            assert!(
                !out.status.success(),
                "helm{} template accepted {case:?}",
                helm.major
            );
        }
    }
}
