//! What a test does when a tool it needs is not installed: it skips, saying so, or,
//! under `NETDNS_GUARD_REQUIRE_TOOLS=1` (the test command sets it), fails, so CI
//! never counts a check it skipped as passed.

/// Reports that `what` is missing: a panic naming it when tools are required, a
/// `SKIP:` line on stderr otherwise (the caller then returns without checking).
pub fn skip_or_fail(what: &str) {
    assert!(
        std::env::var("NETDNS_GUARD_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{what}; NETDNS_GUARD_REQUIRE_TOOLS=1 makes a missing tool a failure"
    );
    eprintln!("SKIP: {what}");
}
