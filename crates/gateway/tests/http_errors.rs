//! What an HTTP upstream that does not speak MCP at its `url` is reported as: the status, one
//! line of why, what to try; never the transport's types or a whole HTML page. The servers
//! here answer on real sockets the way real ones do when a URL or token is wrong (a web
//! framework's 404 page, a 401 that asks for OAuth); the old SSE transport is in `e2e.rs`,
//! with a real SSE server.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use gateway::{Config, Gateway};
use serde_json::json;

/// Serves `status`, `headers` and `body` to every request, on a thread; the server's address.
fn answering(status: &'static str, headers: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            // Read the head, then as much body as it announces.
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (name, value) = l.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let response = format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_http_failure_says_what_it_was_and_what_to_try() {
    let sign_in = answering(
        "401 Unauthorized",
        "WWW-Authenticate: Bearer resource_metadata=\"https://auth.example/.well-known/oauth-protected-resource\"\r\n",
        "",
    );
    let forbidden = answering(
        "403 Forbidden",
        "Content-Type: text/plain\r\n",
        "token lacks scope repo",
    );
    let web = answering(
        "404 Not Found",
        "Content-Type: text/html; charset=utf-8\r\n",
        "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Error</title></head><body><pre>Cannot POST /</pre></body></html>",
    );
    let page = answering(
        "200 OK",
        "Content-Type: text/html\r\n",
        "<html><body>Welcome</body></html>",
    );
    let broken = answering(
        "500 Internal Server Error",
        "Content-Type: text/plain\r\n",
        "database is down",
    );
    let text = json!({
        "isolation": "none",
        "cache": false,
        "mcpServers": {
            "sign-in": {"url": format!("http://{sign_in}/mcp")},
            "no-oauth": {"url": format!("http://{sign_in}/mcp"), "oauth": false},
            "forbidden": {"url": format!("http://{forbidden}/mcp"), "headers": {"Authorization": "Bearer t0ken"}},
            "web": {"url": format!("http://{web}/")},
            "page": {"url": format!("http://{page}/mcp")},
            "broken": {"url": format!("http://{broken}/mcp")},
        }
    })
    .to_string();
    let config = Config::parse(Path::new("codemode.json"), &text, &HashMap::new()).unwrap();
    let gateway = Gateway::connect(&config).await;
    let catalog = gateway.catalog();
    let error = |name: &str| {
        catalog
            .statuses
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.error.clone())
            .unwrap_or_else(|| panic!("{name} is up"))
    };
    let try_mcp = format!("try `http://{web}/mcp`");
    let expect = [
        // Asked by no one here (no opener): what to run.
        (
            "sign-in",
            vec!["it needs sign-in: run `codemode login sign-in`"],
        ),
        (
            "no-oauth",
            vec![
                "answered 401 Unauthorized",
                "needs sign-in or a token",
                "oauth-protected-resource",
                "`headers`",
            ],
        ),
        (
            "forbidden",
            vec![
                "answered 403 Forbidden",
                "token lacks scope repo",
                "check it and its scopes",
            ],
        ),
        (
            "web",
            vec!["answered 404 Not Found", "no MCP endpoint at `/`", &try_mcp],
        ),
        ("page", vec!["answered 200 OK with `text/html`, not MCP"]),
        (
            "broken",
            vec!["answered 500 Internal Server Error: database is down"],
        ),
    ];
    for (name, parts) in expect {
        let error = error(name);
        for part in parts {
            assert!(error.contains(part), "{name}: `{part}` not in: {error}");
        }
        assert!(!error.contains("::"), "{name}: a Rust type in: {error}");
        assert!(!error.contains('<'), "{name}: HTML in: {error}");
        assert!(!error.contains("t0ken"), "{name}: a secret in: {error}");
    }
    gateway.shutdown().await;
}
