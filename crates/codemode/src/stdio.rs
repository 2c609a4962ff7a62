//! MCP on stdio, one JSON-RPC message a line, answering what cannot be read.
//!
//! rmcp's own stdio transport drops a line that is not JSON, not UTF-8 or over its length
//! limit without a word, and answers a well-formed request of the wrong shape without its id.
//! JSON-RPC 2.0 asks for an error reply: here a line that cannot be read gets `-32700` (parse
//! error, no id: none can be read), a line over [`MAX_LINE_BYTES`] gets `-32600` (invalid
//! request) without being held in memory, and a request of the wrong shape gets `-32600` with
//! its id. Nothing answers a notification or a response (JSON-RPC never does; it is also what
//! keeps two peers from answering each other's errors for ever).

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ErrorData, RequestId};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The longest line read: a request carrying the largest snippet (`maxCodeBytes`, 1 MiB by
/// default), escaped, with room to spare.
pub(crate) const MAX_LINE_BYTES: usize = 16 << 20;

/// The server's side of stdio (or of any reader and writer: the tests use pipes).
pub(crate) struct Lines<R, W> {
    read: BufReader<R>,
    line: Vec<u8>,
    /// Skipping the rest of a line already refused as too long.
    skipping: bool,
    max: usize,
    write: Arc<Mutex<W>>,
}

impl Lines<tokio::io::Stdin, tokio::io::Stdout> {
    pub(crate) fn stdio() -> Self {
        Lines::new(tokio::io::stdin(), tokio::io::stdout(), MAX_LINE_BYTES)
    }
}

/// What one read gave.
enum Read {
    Line,
    TooLong,
    End,
}

impl<R, W> Lines<R, W>
where
    R: tokio::io::AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    pub(crate) fn new(read: R, write: W, max: usize) -> Self {
        Lines {
            read: BufReader::new(read),
            line: Vec::new(),
            skipping: false,
            max,
            write: Arc::new(Mutex::new(write)),
        }
    }

    /// Reads up to the next line end into `self.line`, never holding more than `max` bytes of
    /// it. Cancel-safe: a partial line stays in `self.line` for the next call.
    async fn read_line(&mut self) -> std::io::Result<Read> {
        loop {
            let available = self.read.fill_buf().await?;
            if available.is_empty() {
                return Ok(Read::End);
            }
            let end = available.iter().position(|&b| b == b'\n');
            let take = end.map_or(available.len(), |at| at + 1);
            let mut outcome = None;
            if self.skipping {
                if end.is_some() {
                    self.skipping = false;
                }
            } else if self.line.len() + take > self.max {
                self.line.clear();
                self.skipping = end.is_none();
                outcome = Some(Read::TooLong);
            } else {
                self.line.extend_from_slice(&available[..take]);
                if end.is_some() {
                    outcome = Some(Read::Line);
                }
            }
            self.read.consume(take);
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
    }

    /// The message a whole line holds, or the error reply it deserves (`None`: say nothing).
    fn read_message(line: &[u8]) -> Result<RxJsonRpcMessage<RoleServer>, Option<Box<Refusal>>> {
        let line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(Some(Box::new(Refusal::parse("the message is not UTF-8"))));
        };
        let error = match serde_json::from_str(text) {
            Ok(message) => return Ok(message),
            Err(error) => error,
        };
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            let message = format!("the message is not JSON: {error}");
            return Err(Some(Box::new(Refusal::parse(message))));
        };
        let method = value.get("method").and_then(Value::as_str);
        match (method, value.get("id")) {
            // A request of the wrong shape: answered with its id, when it has a readable one.
            (Some(method), Some(id)) => Err(Some(Box::new(Refusal {
                error: ErrorData::invalid_request(
                    format!("the {method} request is not what MCP defines: {error}"),
                    None,
                ),
                id: serde_json::from_value(id.clone()).ok(),
            }))),
            // A notification, or a response: never answered.
            (Some(_), None) | (None, Some(_)) if value.is_object() => {
                tracing::debug!("ignoring a message that is not what MCP defines: {error}");
                Err(None)
            }
            _ => Err(Some(Box::new(Refusal {
                error: ErrorData::invalid_request(
                    "the message is not a JSON-RPC request, notification or response",
                    None,
                ),
                id: None,
            }))),
        }
    }
}

/// An error reply to a line that could not be taken.
struct Refusal {
    error: ErrorData,
    id: Option<RequestId>,
}

impl Refusal {
    fn parse(message: impl Into<String>) -> Self {
        Refusal {
            error: ErrorData::parse_error(message.into(), None),
            id: None,
        }
    }
}

async fn reply<W: AsyncWrite + Unpin>(
    write: &Mutex<W>,
    error: ErrorData,
    id: Option<RequestId>,
) -> std::io::Result<()> {
    write_line(write, &TxJsonRpcMessage::<RoleServer>::error(error, id)).await
}

async fn write_line<W: AsyncWrite + Unpin>(
    write: &Mutex<W>,
    message: &TxJsonRpcMessage<RoleServer>,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut write = write.lock().await;
    write.write_all(&line).await?;
    write.flush().await
}

impl<R, W> Transport<RoleServer> for Lines<R, W>
where
    R: tokio::io::AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let write = self.write.clone();
        async move { write_line(&write, &item).await }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let read = match self.read_line().await {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!("cannot read stdin: {error}");
                    return None;
                }
            };
            match read {
                Read::End => return None,
                Read::TooLong => {
                    let error = ErrorData::invalid_request(
                        format!("the message is over {} bytes", self.max),
                        None,
                    );
                    reply(&self.write, error, None).await.ok()?;
                }
                Read::Line => {
                    // Read in place, then cleared: the buffer keeps its capacity for the next.
                    let body = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
                    let body = body.strip_suffix(b"\r").unwrap_or(body);
                    let read = (!body.iter().all(u8::is_ascii_whitespace))
                        .then(|| Self::read_message(body));
                    self.line.clear();
                    let Some(read) = read else { continue };
                    match read {
                        Ok(message) => return Some(message),
                        Err(None) => {}
                        Err(Some(refusal)) => {
                            reply(&self.write, refusal.error, refusal.id).await.ok()?;
                        }
                    }
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.write.lock().await.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of line that cannot be taken gets its reply, or none, in order; the stream
    /// goes on to the next message.
    #[tokio::test]
    async fn lines_that_cannot_be_read_are_answered() {
        let (mut client, server_read) = tokio::io::duplex(1 << 16);
        let (server_write, mut replies) = tokio::io::duplex(1 << 16);
        let mut lines = Lines::new(server_read, server_write, 64);
        let mut input = Vec::new();
        input.extend_from_slice(b"not json\n");
        input.extend_from_slice(b"\"\xff\xfe\"\n");
        input.extend_from_slice(&[b'x'; 200]);
        input.extend_from_slice(b"\n\r\n");
        input.extend_from_slice(br#"{"jsonrpc":"2.0","id":7,"method":"ping","params":5}"#);
        input.extend_from_slice(b"\n");
        input.extend_from_slice(br#"{"jsonrpc":"2.0","method":"notifications/x","params":5}"#);
        input.extend_from_slice(b"\n[1, 2]\n");
        input.extend_from_slice(br#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#);
        input.extend_from_slice(b"\n");
        client.write_all(&input).await.unwrap();
        drop(client);
        let message = lines.receive().await.expect("the ping after the bad lines");
        assert!(
            serde_json::to_string(&message)
                .unwrap()
                .contains(r#""id":9"#),
            "{message:?}"
        );
        assert!(lines.receive().await.is_none(), "then the end");
        drop(lines);
        let mut said = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut replies, &mut said)
            .await
            .unwrap();
        let said: Vec<Value> = said
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let codes: Vec<(i64, Option<&Value>)> = said
            .iter()
            .map(|r| (r["error"]["code"].as_i64().unwrap(), r.get("id")))
            .collect();
        let seven = serde_json::json!(7);
        assert_eq!(
            codes,
            [
                (-32700, None),
                (-32700, None),
                (-32600, None),
                (-32600, Some(&seven)),
                (-32600, None)
            ],
            "{said:?}"
        );
        assert!(
            said[1]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("UTF-8")
        );
        assert!(
            said[2]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("over 64 bytes")
        );
        assert!(
            said[3]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ping")
        );
    }
}
