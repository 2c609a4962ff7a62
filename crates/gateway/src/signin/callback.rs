//! The loopback redirect: a listener on this machine that the authorization server's redirect
//! reaches through the user's browser (RFC 8252), answered with a page that says what happened.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A listener waiting for the one redirect of a sign-in.
pub(crate) struct Callback {
    listener: TcpListener,
    /// Where the authorization server sends the browser back to.
    pub(crate) redirect_uri: String,
    path: String,
    /// `http://host:port` of the redirect URI.
    origin: String,
}

impl Callback {
    /// Listens at `redirect_uri` (a loopback URL with a port), or at a free port of 127.0.0.1.
    pub(crate) async fn bind(redirect_uri: Option<&str>) -> Result<Callback, String> {
        let (host, port, path) = match redirect_uri {
            None => ("127.0.0.1".to_string(), 0, "/callback".to_string()),
            Some(uri) => {
                let url = reqwest::Url::parse(uri).map_err(|e| format!("`{uri}`: {e}"))?;
                let host = match url.host_str() {
                    Some("localhost") | None => "127.0.0.1".to_string(),
                    Some(h) => h.trim_matches(|c| c == '[' || c == ']').to_string(),
                };
                (host, url.port().unwrap_or(80), url.path().to_string())
            }
        };
        let listener = TcpListener::bind((host.as_str(), port))
            .await
            .map_err(|e| {
                format!("cannot listen for the sign-in's redirect on {host}:{port}: {e}")
            })?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let redirect_uri = match redirect_uri {
            Some(uri) => uri.to_string(),
            None => format!("http://127.0.0.1:{port}{path}"),
        };
        let origin = reqwest::Url::parse(&redirect_uri)
            .map(|u| u.origin().ascii_serialization())
            .map_err(|e| e.to_string())?;
        Ok(Callback {
            listener,
            redirect_uri,
            path,
            origin,
        })
    }

    /// The redirect's whole URL, once the browser brings it with `state` (the one the
    /// authorization URL carries: a request to another path, or with another state, from
    /// another page or process, is refused and the wait goes on), or an error after `wait`.
    pub(crate) async fn wait(self, wait: Duration, state: Option<&str>) -> Result<String, String> {
        let waited = tokio::time::timeout(wait, async {
            loop {
                let Ok((mut stream, _)) = self.listener.accept().await else {
                    continue;
                };
                let Some(target) = read_target(&mut stream).await else {
                    continue;
                };
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                if path != self.path {
                    let _ =
                        respond(&mut stream, "404 Not Found", "Not the sign-in's redirect.").await;
                    continue;
                }
                let pairs: Vec<(String, String)> = url_pairs(query);
                let theirs = pairs
                    .iter()
                    .find(|(k, _)| k == "state")
                    .map(|(_, v)| v.as_str());
                if state.is_some() && theirs != state {
                    let _ = respond(
                        &mut stream,
                        "400 Bad Request",
                        "Not this sign-in's redirect (its state differs).",
                    )
                    .await;
                    continue;
                }
                let error = pairs
                    .iter()
                    .find(|(k, _)| k == "error")
                    .map(|(_, v)| v.clone());
                let page = match &error {
                    Some(error) => {
                        format!("Sign-in failed: {}. You can close this tab.", escape(error))
                    }
                    None => "Signed in. You can close this tab and go back.".to_string(),
                };
                let _ = respond(&mut stream, "200 OK", &page).await;
                return format!("{}{target}", self.origin);
            }
        })
        .await;
        waited.map_err(|_| {
            format!(
                "no sign-in within {} s (nothing came back to {})",
                wait.as_secs(),
                self.redirect_uri
            )
        })
    }
}

/// The request target of one HTTP request (`/callback?code=...`), read within 10 s and 16 KiB.
async fn read_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Some(())
    })
    .await;
    read.ok()??;
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.lines().next()?.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_string)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    text: &str,
) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>codemode</title></head><body><p>{text}</p></body></html>"
    );
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

fn escape(text: &str) -> String {
    text.chars()
        .take(200)
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(port: u16, target: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn only_the_sign_ins_own_redirect_is_taken() {
        let callback = Callback::bind(None).await.unwrap();
        let port = reqwest::Url::parse(&callback.redirect_uri)
            .unwrap()
            .port()
            .unwrap();
        let waiting = tokio::spawn(callback.wait(Duration::from_secs(10), Some("ours")));
        assert!(
            get(port, "/elsewhere?code=x&state=ours")
                .await
                .starts_with("HTTP/1.1 404")
        );
        assert!(
            get(port, "/callback?code=forged&state=theirs")
                .await
                .starts_with("HTTP/1.1 400")
        );
        assert!(
            get(port, "/callback?code=real&state=ours")
                .await
                .starts_with("HTTP/1.1 200")
        );
        let back = waiting.await.unwrap().unwrap();
        assert_eq!(
            back,
            format!("http://127.0.0.1:{port}/callback?code=real&state=ours")
        );
    }
}
