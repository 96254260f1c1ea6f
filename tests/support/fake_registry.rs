//! A small scripted HTTP/1.1 server for the registry faults a real registry
//! cannot be made to produce: a 500, a body that stalls or is cut off, bytes
//! that do not match their digest, a redirect to another host, a Bearer token
//! flow whose endpoint refuses. One request per connection (`Connection:
//! close`); every request's path and `Authorization` is recorded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a route answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A status, extra headers and a body (Content-Length set).
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// 200 announcing the body's full length, then sends only the first
    /// `sent` bytes and holds the connection open for `hold`.
    Stall {
        body: Vec<u8>,
        sent: usize,
        hold: Duration,
    },
    /// 200 announcing the body's full length, then sends only the first
    /// `sent` bytes and closes.
    Truncate { body: Vec<u8>, sent: usize },
    /// 200, then the body one byte every `every`: progress that never
    /// trips a per-read timeout.
    Drip { body: Vec<u8>, every: Duration },
}

impl Answer {
    /// 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Answer {
        Answer::Full {
            status: 200,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// `status` with a registry-style JSON error.
    pub fn error(status: u16, code: &str, message: &str) -> Answer {
        Answer::Full {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: format!(r#"{{"errors":[{{"code":"{code}","message":"{message}"}}]}}"#)
                .into_bytes(),
        }
    }

    /// A 307 to `location`.
    pub fn redirect(location: &str) -> Answer {
        Answer::Full {
            status: 307,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

/// Bearer auth in front of every `/v2/` route: the token endpoint at `/token`
/// gives `token` for `user:password`, and refuses anything else.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    pub user: String,
    pub password: String,
    pub token: String,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Answer>,
    token: Option<TokenAuth>,
    seen: Vec<(String, Option<String>)>,
}

/// The running server; it stops with the test process.
#[derive(Clone)]
pub struct FakeRegistry {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeRegistry {
    /// Starts on a random loopback port.
    pub fn start() -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, addr, &state));
            }
        });
        FakeRegistry { addr, state }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Answers `path` (e.g. `/v2/app/manifests/v1`) with `answer`.
    pub fn route(&self, path: &str, answer: Answer) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.into(), answer);
    }

    /// Puts every `/v2/` route behind a Bearer token.
    pub fn require_token(&self, auth: TokenAuth) {
        self.state.lock().unwrap().token = Some(auth);
    }

    /// Every request so far: path (with query) and `Authorization`.
    pub fn seen(&self) -> Vec<(String, Option<String>)> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn serve(mut stream: TcpStream, addr: SocketAddr, state: &Mutex<State>) {
    let Some((path, authorization)) = read_request(&stream) else {
        return;
    };
    let answer = {
        let mut state = state.lock().unwrap();
        state.seen.push((path.clone(), authorization.clone()));
        decide(&state, addr, &path, authorization.as_deref())
    };
    let _ = write_answer(&mut stream, answer);
}

fn decide(state: &State, addr: SocketAddr, path: &str, authorization: Option<&str>) -> Answer {
    if let Some(auth) = &state.token {
        if path.starts_with("/token") {
            let expected = netdns_guard::inspect::image::registry::auth::basic_header(
                &auth.user,
                &auth.password,
            );
            return if authorization == Some(expected.as_str()) {
                Answer::ok(format!(r#"{{"token":"{}"}}"#, auth.token))
            } else {
                Answer::error(401, "UNAUTHORIZED", "bad credentials")
            };
        }
        let bearer = format!("Bearer {}", auth.token);
        if path.starts_with("/v2/") && authorization != Some(bearer.as_str()) {
            return Answer::Full {
                status: 401,
                headers: vec![(
                    "WWW-Authenticate".into(),
                    format!(r#"Bearer realm="http://{addr}/token",service="fake""#),
                )],
                body:
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                        .to_vec(),
            };
        }
    }
    let route = path.split('?').next().unwrap_or(path);
    state
        .routes
        .get(route)
        .cloned()
        .unwrap_or_else(|| Answer::error(404, "MANIFEST_UNKNOWN", "manifest unknown"))
}

/// The request line's path and the `Authorization` header.
fn read_request(stream: &TcpStream) -> Option<(String, Option<String>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_owned());
        }
    }
    Some((path, authorization))
}

fn write_answer(stream: &mut TcpStream, answer: Answer) -> std::io::Result<()> {
    let head = |status: u16, headers: &[(String, String)], length: usize| {
        let mut text =
            format!("HTTP/1.1 {status} X\r\nContent-Length: {length}\r\nConnection: close\r\n");
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        text
    };
    match answer {
        Answer::Full {
            status,
            headers,
            body,
        } => {
            stream.write_all(head(status, &headers, body.len()).as_bytes())?;
            stream.write_all(&body)
        }
        Answer::Stall { body, sent, hold } => {
            stream.write_all(head(200, &[], body.len()).as_bytes())?;
            stream.write_all(&body[..sent])?;
            stream.flush()?;
            std::thread::sleep(hold);
            Ok(())
        }
        Answer::Truncate { body, sent } => {
            stream.write_all(head(200, &[], body.len()).as_bytes())?;
            stream.write_all(&body[..sent])
        }
        Answer::Drip { body, every } => {
            stream.write_all(head(200, &[], body.len()).as_bytes())?;
            for byte in body {
                stream.write_all(&[byte])?;
                stream.flush()?;
                std::thread::sleep(every);
            }
            Ok(())
        }
    }
}
