//! The host–kernel wire protocol: length-prefixed JSON frames over the kernel's stdio.
//!
//! A frame is a 4-byte big-endian payload length followed by that many bytes of UTF-8
//! JSON, one message object tagged by `"t"`. The kernel greets with `hello` carrying
//! [`PROTOCOL_VERSION`]; the host refuses any other version. Frames over the configured
//! maximum are reported and skipped without being buffered, so a hostile or broken
//! kernel can neither exhaust memory nor desynchronise the stream. This module owns only
//! the format; it never touches processes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Stream;

/// Version of the message set below; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;
/// Default largest frame either side accepts.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;
const HEADER: usize = 4;

/// Messages the host sends to the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum HostMsg {
    Exec {
        cell: u64,
        code: String,
    },
    /// Raise `KeyboardInterrupt` in the running cell (if it is still `cell`).
    Interrupt {
        cell: Option<u64>,
    },
    Reply {
        id: u64,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<ReplyError>,
    },
    Shutdown,
    /// Keep a frozen copy of the kernel for `step` (a live checkpoint); `measure`: pids of
    /// the copies whose memory (PSS) to report, besides the new one's.
    Freeze {
        step: u64,
        #[serde(default)]
        measure: Vec<u32>,
    },
    /// Hand the channel to the copy frozen at `step`; this kernel leaves.
    Thaw {
        step: u64,
    },
    /// End the frozen copies of `steps`; then report the memory (PSS) of `measure`.
    Drop {
        steps: Vec<u64>,
        #[serde(default)]
        measure: Vec<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyError {
    pub kind: String,
    pub message: String,
}

/// Messages the kernel sends to the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum KernelMsg {
    Hello {
        version: u32,
        pid: u32,
        python: String,
        uid: u32,
    },
    Out {
        cell: u64,
        stream: Stream,
        text: String,
    },
    Call {
        id: u64,
        cell: u64,
        name: String,
        #[serde(default)]
        args: Value,
    },
    Value {
        cell: u64,
        repr: String,
        #[serde(default)]
        json: Option<Value>,
    },
    Error {
        cell: u64,
        ename: String,
        evalue: String,
        traceback: String,
        line: Option<u32>,
        column: Option<u32>,
    },
    Done {
        cell: u64,
        status: String,
    },
    /// Answer to `freeze`: the copy's pid, or why there is none; `pss` holds the
    /// proportional set size of the copies asked about, then of the new copy (null:
    /// gone or unreadable).
    Frozen {
        step: u64,
        #[serde(default)]
        pid: Option<u32>,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        pss: Vec<Option<u64>>,
    },
    /// Answer to `thaw`: sent by the woken copy (its pid), or by this kernel (why not).
    Thawed {
        step: u64,
        #[serde(default)]
        pid: Option<u32>,
        #[serde(default)]
        error: Option<String>,
    },
    /// Answer to `drop`: the PSS of the copies asked about (null: gone).
    Dropped {
        steps: Vec<u64>,
        #[serde(default)]
        pss: Vec<Option<u64>>,
    },
}

/// Encodes one message as a frame, refusing payloads over `max_frame`.
pub fn encode<T: Serialize>(msg: &T, max_frame: usize) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; HEADER];
    serde_json::to_writer(&mut frame, msg).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = frame.len() - HEADER;
    if len > max_frame {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame,
        });
    }
    // `len <= max_frame`, and max_frame is checked to fit in u32 by FrameDecoder::new.
    let header = u32::try_from(len).map_err(|_| FrameError::TooLarge {
        len,
        max: max_frame,
    })?;
    frame[..HEADER].copy_from_slice(&header.to_be_bytes());
    Ok(frame)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(
        "frame of {len} bytes exceeds the {max}-byte limit (raise kernel.max_frame_mb if this is legitimate)"
    )]
    TooLarge { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Incremental frame decoder: push bytes in any split, pull complete frames out.
///
/// Memory stays bounded by `max_frame` plus one pushed chunk whatever the input, provided
/// frames are drained with `next_frame` after each `push` (as the host's reader does).
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame: usize,
    buf: Vec<u8>,
    /// Bytes of an oversized frame still to discard.
    skip: usize,
}

impl FrameDecoder {
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame: max_frame.min(u32::MAX as usize),
            buf: Vec::new(),
            skip: 0,
        }
    }

    pub fn push(&mut self, mut data: &[u8]) {
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame's payload, or an error for one that was refused.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        if self.skip > 0 || self.buf.len() < HEADER {
            return None;
        }
        let mut header = [0u8; HEADER];
        header.copy_from_slice(&self.buf[..HEADER]);
        let len = u32::from_be_bytes(header) as usize;
        if len > self.max_frame {
            let available = self.buf.len() - HEADER;
            let dropped = available.min(len);
            self.buf.drain(..HEADER + dropped);
            self.skip = len - dropped;
            return Some(Err(FrameError::TooLarge {
                len,
                max: self.max_frame,
            }));
        }
        if self.buf.len() < HEADER + len {
            return None;
        }
        let payload = self.buf[HEADER..HEADER + len].to_vec();
        self.buf.drain(..HEADER + len);
        Some(Ok(payload))
    }

    /// Bytes buffered but not yet returned (for tests of the memory bound).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Parses a payload as a kernel message, naming what was wrong on failure.
pub fn parse_kernel_msg(payload: &[u8]) -> Result<KernelMsg, FrameError> {
    serde_json::from_slice(payload).map_err(|e| {
        let preview = String::from_utf8_lossy(&payload[..payload.len().min(80)]).into_owned();
        FrameError::Malformed(format!("{e} (payload starts {preview:?})"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn out(text: &str) -> KernelMsg {
        KernelMsg::Out {
            cell: 1,
            stream: Stream::Stdout,
            text: text.into(),
        }
    }

    #[test]
    fn round_trips_a_message() {
        let frame = encode(&out("hi"), 1024).unwrap();
        let mut d = FrameDecoder::new(1024);
        d.push(&frame);
        let payload = d.next_frame().unwrap().unwrap();
        assert_eq!(parse_kernel_msg(&payload).unwrap(), out("hi"));
        assert!(d.next_frame().is_none());
    }

    #[test]
    fn encode_refuses_oversized_payload() {
        let err = encode(&out(&"x".repeat(100)), 50).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { max: 50, .. }), "{err}");
    }

    #[test]
    fn oversized_frame_is_skipped_and_stream_resyncs() {
        let mut d = FrameDecoder::new(64);
        let mut bytes = (1000u32).to_be_bytes().to_vec();
        bytes.extend(std::iter::repeat_n(b'z', 1000));
        bytes.extend(encode(&out("after"), 64).unwrap());
        let mut got = Vec::new();
        for chunk in bytes.chunks(7) {
            d.push(chunk);
            while let Some(frame) = d.next_frame() {
                got.push(frame);
            }
            assert!(d.buffered() <= 64 + 4 + 7);
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0], Err(FrameError::TooLarge { len: 1000, max: 64 }));
        let next = got[1].clone().unwrap();
        assert_eq!(parse_kernel_msg(&next).unwrap(), out("after"));
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        let err = parse_kernel_msg(b"{\"t\":\"nope\"}").unwrap_err();
        assert!(err.to_string().contains("malformed frame"), "{err}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        // Fuzz: arbitrary bytes in arbitrary splits never panic, never buffer more than
        // the limit plus one chunk, and frames pushed afterwards still decode.
        #[test]
        fn arbitrary_input_is_bounded_and_recoverable(
            garbage in proptest::collection::vec(any::<u8>(), 0..2048),
            split in 1usize..97,
        ) {
            let max = 256;
            let mut d = FrameDecoder::new(max);
            for chunk in garbage.chunks(split) {
                d.push(chunk);
                while let Some(frame) = d.next_frame() {
                    if let Ok(payload) = frame {
                        prop_assert!(payload.len() <= max);
                        let _ = parse_kernel_msg(&payload);
                    }
                }
                prop_assert!(d.buffered() <= max + HEADER + split);
            }
        }

        #[test]
        fn valid_frames_survive_any_split(texts in proptest::collection::vec(".{0,40}", 1..20), split in 1usize..50) {
            let mut bytes = Vec::new();
            for t in &texts {
                bytes.extend(encode(&out(t), 4096).unwrap());
            }
            let mut d = FrameDecoder::new(4096);
            let mut got = Vec::new();
            for chunk in bytes.chunks(split) {
                d.push(chunk);
                while let Some(frame) = d.next_frame() {
                    got.push(parse_kernel_msg(&frame.unwrap()).unwrap());
                }
            }
            let want: Vec<_> = texts.iter().map(|t| out(t)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
