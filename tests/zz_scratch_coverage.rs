include!("/tmp/scratch/props.rs");
#[test]
fn coverage() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..2000 {
        let pod = pod().new_tree(&mut runner).unwrap().current();
        let policy = policy().new_tree(&mut runner).unwrap().current();
        let r = review(&Engine::new(policy).unwrap(), &pod);
        let mut bump = |k| *counts.entry(k).or_default() += 1;
        bump("total");
        if !r.patch.is_empty() {
            bump("changed");
        }
        for op in &r.patch {
            let p = op.path();
            if p.ends_with("/env") {
                bump("env list added");
            }
            if p.ends_with("/env/-") {
                bump("env appended");
            }
            if p.ends_with("/value") {
                bump("value edited");
            }
            if p.contains("dnsConfig") {
                bump("dns options");
            }
            if p.contains("volumes") {
                bump("volume");
            }
            if p.contains("volumeMounts") {
                bump("mount");
            }
            if p == "/metadata" {
                bump("metadata created");
            }
            if p == "/metadata/annotations" {
                bump("annotations created");
            }
            if matches!(op, netdns_guard::engine::patch::PatchOp::Remove { .. }) {
                bump("env removed");
            }
        }
        for c in &r.report.containers {
            for ch in &c.changes {
                if let netdns_guard::engine::report::Change::GodebugRewritten { why, .. } = ch {
                    if why.contains("ambiguous") {
                        bump("normalised");
                    }
                    if why.contains("overridden") {
                        bump("overrode cgo");
                    }
                    if why.contains("debug level") {
                        bump("debug level");
                    }
                }
            }
        }
        if r.report.warnings.iter().any(|w| w.contains("netdns=cgo")) {
            bump("kept cgo");
        }
        if r.report.warnings.iter().any(|w| w.contains("valueFrom")) {
            bump("valueFrom warn");
        }
        if r.report.warnings.iter().any(|w| w.contains("times")) {
            bump("dup warn");
        }
    }
    panic!("{counts:#?}");
}
