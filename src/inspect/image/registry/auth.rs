//! The registry's side of authentication: `WWW-Authenticate` challenges and
//! the token flow of Docker's distribution spec.
//!
//! A registry answers an anonymous request with 401 and a challenge. `Basic`
//! asks for the user name and password on every request. `Bearer` names a
//! token endpoint (`realm`), the `service` and the `scope`: we ask the realm
//! for a pull token — with the user's basic credentials when we have them, or
//! an OAuth2 refresh-token exchange (POST) for an identity token — and send it
//! as `Authorization: Bearer`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use super::credentials::{Credentials, Secret};

/// Largest token answer read (tokens are a few KB; JWTs with many claims
/// rarely pass 16 KB).
pub const MAX_TOKEN_ANSWER: u64 = 1 << 20;

/// A `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The service the token is for.
        service: Option<String>,
        /// The scope the registry asked for, when it named one.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses the header's value; `None` for a scheme we do not speak or a
    /// Bearer challenge without a realm.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(params);
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        })
    }
}

/// `key=value` or `key="quoted, \"escaped\""` pairs separated by commas.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    params
}

/// The `Authorization` value for basic credentials.
pub fn basic_header(username: &str, password: &str) -> String {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

/// The basic `Authorization` value of `credentials`, when they are basic.
pub fn basic_of(credentials: Option<&Credentials>) -> Option<String> {
    match credentials.map(|c| &c.secret) {
        Some(Secret::Basic { username, password }) => Some(basic_header(username, password)),
        _ => None,
    }
}

/// The token endpoint's answer: distribution writes `token`, OAuth2 servers
/// `access_token`, many both.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

/// Reads the token from the endpoint's JSON answer.
pub fn token_from_answer(bytes: &[u8]) -> Result<String, String> {
    let answer: TokenAnswer = serde_json::from_slice(bytes)
        .map_err(|e| format!("the token endpoint's answer is not a token: {e}"))?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "the token endpoint's answer has no token".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_as_registries_write_them() {
        let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#;
        assert_eq!(
            Challenge::parse(header),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
        let unquoted = "bearer realm=https://r/t, service=reg";
        assert!(
            matches!(Challenge::parse(unquoted), Some(Challenge::Bearer { service: Some(s), scope: None, .. }) if s == "reg")
        );
        let escaped = r#"Bearer realm="https://r/\"t\"", scope="a,b""#;
        assert!(
            matches!(Challenge::parse(escaped), Some(Challenge::Bearer { realm, scope: Some(s), .. }) if realm == "https://r/\"t\"" && s == "a,b")
        );
    }

    #[test]
    fn basic_and_unknown_schemes() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse(r#"Bearer service="x""#), None);
    }

    #[test]
    fn token_answers() {
        assert_eq!(
            token_from_answer(br#"{"token":"a","access_token":"b"}"#).unwrap(),
            "a"
        );
        assert_eq!(token_from_answer(br#"{"access_token":"b"}"#).unwrap(), "b");
        assert!(
            token_from_answer(br#"{"token":""}"#)
                .unwrap_err()
                .contains("no token")
        );
        assert!(
            token_from_answer(b"<html>")
                .unwrap_err()
                .contains("not a token")
        );
    }

    #[test]
    fn basic_header_is_base64_of_user_colon_password() {
        assert_eq!(
            basic_header("aladdin", "opensesame"),
            "Basic YWxhZGRpbjpvcGVuc2VzYW1l"
        );
    }
}
