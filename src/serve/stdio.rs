//! stdio for `mcpr serve`: one JSON-RPC message a line, as rmcp's own stdio transport
//! reads it, except that a line that is not a message gets an error reply saying what
//! is wrong with it (JSON-RPC's parse error or invalid request) instead of being dropped
//! without a word, and a line longer than [`MAX_LINE`] is refused rather than held.

use futures::{Sink, Stream};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// The longest line taken: a call of the largest code a call takes, JSON-escaped.
pub const MAX_LINE: u64 = 16 * 1024 * 1024;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// The transport over `input` and `output` (stdin and stdout).
pub fn transport(
    input: impl AsyncRead + Send + Unpin + 'static,
    output: impl AsyncWrite + Send + Unpin + 'static,
) -> (
    impl Sink<ServerJsonRpcMessage, Error = std::io::Error> + Send + Unpin + 'static,
    impl Stream<Item = ClientJsonRpcMessage> + Send + Unpin + 'static,
) {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(write_lines(output, rx));
    let sink = Box::pin(futures::sink::unfold(
        tx.clone(),
        |tx, message: ServerJsonRpcMessage| async move {
            let line = serde_json::to_string(&message).map_err(std::io::Error::other)?;
            tx.send(line).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout closed")
            })?;
            Ok::<_, std::io::Error>(tx)
        },
    ));
    let stream = Box::pin(futures::stream::unfold(
        (BufReader::new(input), tx),
        |(mut input, tx)| async move {
            loop {
                match read_line(&mut input).await {
                    Line::End => return None,
                    Line::TooLong => {
                        let _ = tx.send(reply(
                            Value::Null,
                            INVALID_REQUEST,
                            format!(
                                "a line of more than {MAX_LINE} bytes was refused: send one JSON-RPC message a line, with less code a call"
                            ),
                        ));
                    }
                    Line::Text(line) => match parse(&line) {
                        Ok(Some(message)) => return Some((message, (input, tx))),
                        Ok(None) => {}
                        Err(error) => {
                            let _ = tx.send(error);
                        }
                    },
                }
            }
        },
    ));
    (sink, stream)
}

/// Writes each line and flushes it; ends when every sender is gone or the pipe closed.
async fn write_lines(mut output: impl AsyncWrite + Unpin, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(mut line) = rx.recv().await {
        line.push('\n');
        if output.write_all(line.as_bytes()).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    End,
}

/// The next line, at most [`MAX_LINE`] bytes; the rest of a longer one is skipped.
async fn read_line(input: &mut (impl AsyncBufReadExt + Unpin)) -> Line {
    let mut line = Vec::new();
    match (&mut *input)
        .take(MAX_LINE + 1)
        .read_until(b'\n', &mut line)
        .await
    {
        Ok(0) | Err(_) => return Line::End,
        Ok(_) => {}
    }
    if line.last() == Some(&b'\n') || (line.len() as u64) <= MAX_LINE {
        return Line::Text(line);
    }
    // Skip to the end of the line, holding no more than a chunk at a time.
    loop {
        let mut rest = Vec::new();
        match (&mut *input)
            .take(64 * 1024)
            .read_until(b'\n', &mut rest)
            .await
        {
            Ok(0) | Err(_) => return Line::TooLong,
            Ok(_) if rest.last() == Some(&b'\n') => return Line::TooLong,
            Ok(_) => {}
        }
    }
}

/// A line as a message, `None` for a blank one, or the error reply it gets.
fn parse(line: &[u8]) -> Result<Option<ClientJsonRpcMessage>, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        reply(
            Value::Null,
            PARSE_ERROR,
            format!("parse error: the line is not JSON ({e}); send one JSON-RPC message a line"),
        )
    })?;
    match serde_json::from_value::<ClientJsonRpcMessage>(value.clone()) {
        Ok(message) => Ok(Some(message)),
        Err(e) => {
            let id = match value.get("id") {
                Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
                _ => Value::Null,
            };
            Err(reply(
                id,
                INVALID_REQUEST,
                format!("invalid request: {}", what_is_wrong(&value, &e)),
            ))
        }
    }
}

/// Why a JSON value is not a JSON-RPC message, in words.
fn what_is_wrong(value: &Value, error: &serde_json::Error) -> String {
    let Some(object) = value.as_object() else {
        return "a JSON-RPC message is an object".into();
    };
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return "`jsonrpc` must be \"2.0\"".into();
    }
    match object.get("method") {
        Some(Value::String(_)) => format!("{error}"),
        Some(_) => "`method` must be a string".into(),
        None if object.contains_key("result") || object.contains_key("error") => {
            format!("a response this server cannot read: {error}")
        }
        None => "`method` is missing (a request has `method`, `id` and `params`)".into(),
    }
}

fn reply(id: Value, code: i64, message: String) -> String {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: &str) -> Value {
        serde_json::from_str(&parse(line.as_bytes()).unwrap_err()).unwrap()
    }

    #[test]
    fn what_is_not_a_message_gets_an_error_naming_the_problem() {
        let e = error("{not json");
        assert_eq!(e["error"]["code"], PARSE_ERROR);
        assert_eq!(e["id"], Value::Null);
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("parse error: the line is not JSON (key must be a string"),
            "{e}"
        );
        let e = error("[1, 2]");
        assert_eq!(
            e["error"]["message"],
            "invalid request: a JSON-RPC message is an object"
        );
        let e = error(r#"{"jsonrpc": "1.0", "id": 7, "method": "ping"}"#);
        assert_eq!(e["id"], 7);
        assert_eq!(
            e["error"]["message"],
            "invalid request: `jsonrpc` must be \"2.0\""
        );
        let e = error(r#"{"jsonrpc": "2.0", "id": "a", "method": 5}"#);
        assert_eq!(e["id"], "a");
        assert_eq!(
            e["error"]["message"],
            "invalid request: `method` must be a string"
        );
    }

    #[test]
    fn messages_and_blank_lines_pass() {
        assert!(parse(b"  \n").unwrap().is_none());
        let m = parse(br#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#).unwrap();
        assert!(m.is_some());
    }

    #[tokio::test]
    async fn a_line_too_long_is_skipped_and_the_next_one_read() {
        let mut text = vec![b'x'; MAX_LINE as usize + 10];
        text.extend_from_slice(b"\nnext\n");
        let mut input = BufReader::new(std::io::Cursor::new(text));
        assert!(matches!(read_line(&mut input).await, Line::TooLong));
        assert!(matches!(read_line(&mut input).await, Line::Text(t) if t == b"next\n"));
        assert!(matches!(read_line(&mut input).await, Line::End));
    }
}
