//! Where a response body ends (RFC 9112 §6.3): after `Content-Length` bytes, after the
//! last chunk of a `chunked` body and its trailers, or when the server closes.
//!
//! Pure: bytes in a buffer go in, body data and "the end" come out, so every split of the
//! input can be tested without a socket.

use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length`: this many bytes are left.
    Length(u64),
    /// `Transfer-Encoding: chunked`, in this state.
    Chunked(Chunk),
    /// No length given: the body ends when the server closes the connection.
    UntilClose,
    /// The body is complete.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; bytes seen so far.
    Trailers(usize),
}

/// What one decoding step found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Data(Bytes),
    /// The buffer holds no complete next piece: read more.
    NeedMore,
    End,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FramingError(pub &'static str);

impl Framing {
    /// Takes the next piece of body out of `buf`. Data is split off the buffer, not copied.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Step, FramingError> {
        loop {
            match self {
                Framing::Done => return Ok(Step::End),
                Framing::Length(0) => *self = Framing::Done,
                Framing::Length(left) => {
                    let Some(data) = take_data(buf, left) else {
                        return Ok(Step::NeedMore);
                    };
                    return Ok(Step::Data(data));
                }
                Framing::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    return Ok(Step::Data(buf.split().freeze()));
                }
                Framing::Chunked(state) => match *state {
                    Chunk::Size => {
                        let Some(len) = line_len(buf)? else {
                            return Ok(Step::NeedMore);
                        };
                        let size = chunk_size(line(buf, len))?;
                        buf.advance(len);
                        *state = if size == 0 {
                            Chunk::Trailers(0)
                        } else {
                            Chunk::Data(size)
                        };
                    }
                    Chunk::Data(mut left) => {
                        let Some(data) = take_data(buf, &mut left) else {
                            return Ok(Step::NeedMore);
                        };
                        *state = if left == 0 {
                            Chunk::DataEnd
                        } else {
                            Chunk::Data(left)
                        };
                        return Ok(Step::Data(data));
                    }
                    Chunk::DataEnd => {
                        let Some(len) = line_len(buf)? else {
                            return Ok(Step::NeedMore);
                        };
                        if !line(buf, len).is_empty() {
                            return Err(FramingError("a chunk is longer than its size line says"));
                        }
                        buf.advance(len);
                        *state = Chunk::Size;
                    }
                    Chunk::Trailers(seen) => {
                        let Some(len) = line_len(buf)? else {
                            return Ok(Step::NeedMore);
                        };
                        let empty = line(buf, len).is_empty();
                        buf.advance(len);
                        if empty {
                            *self = Framing::Done;
                        } else if seen + len > MAX_TRAILERS {
                            return Err(FramingError("trailers over 16 KiB"));
                        } else {
                            *state = Chunk::Trailers(seen + len);
                        }
                    }
                },
            }
        }
    }

    /// The server closed the connection: the end of a body without a length, an error for
    /// one that was not finished.
    pub fn closed(&mut self) -> Result<(), FramingError> {
        match self {
            Framing::UntilClose | Framing::Done => {
                *self = Framing::Done;
                Ok(())
            }
            _ => Err(FramingError("the connection closed before the body ended")),
        }
    }
}

/// Up to `left` bytes of data from the front of `buf`; `None` when `buf` is empty.
fn take_data(buf: &mut BytesMut, left: &mut u64) -> Option<Bytes> {
    if buf.is_empty() {
        return None;
    }
    let n = usize::try_from(*left).map_or(buf.len(), |left| left.min(buf.len()));
    *left -= n as u64;
    Some(buf.split_to(n).freeze())
}

/// Length of the first line of `buf` with its line ending; `None` while it is incomplete.
fn line_len(buf: &[u8]) -> Result<Option<usize>, FramingError> {
    match buf.iter().take(MAX_LINE + 2).position(|&b| b == b'\n') {
        Some(i) => Ok(Some(i + 1)),
        None if buf.len() > MAX_LINE => Err(FramingError("a chunk line over 4 KiB")),
        None => Ok(None),
    }
}

/// The first line of `buf` (of length `len`, ending included) without CRLF or bare LF.
fn line(buf: &[u8], len: usize) -> &[u8] {
    let line = &buf[..len - 1];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `1a3f`, `1a3f;name=value` or `1a3f ; ext`: the hex size before any extension. Leading
/// zeros are allowed; a size over 60 bits, bytes after the size that do not start an
/// extension, and control bytes in an extension are errors.
fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    const INVALID: FramingError = FramingError("an invalid chunk size");
    let digits_end = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    let rest = rest.trim_ascii_start();
    if digits.is_empty() || !(rest.is_empty() || rest[0] == b';') {
        return Err(INVALID);
    }
    if rest.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return Err(INVALID);
    }
    let significant = digits
        .iter()
        .position(|&b| b != b'0')
        .map_or(&digits[..0], |i| &digits[i..]);
    if significant.len() > 15 {
        return Err(INVALID);
    }
    Ok(significant.iter().fold(0u64, |size, &b| {
        let digit = (b as char).to_digit(16).unwrap_or_default();
        size * 16 + u64::from(digit)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` fed in pieces of the given sizes; returns the body and whether it ended.
    fn decode_in_pieces(
        mut framing: Framing,
        input: &[u8],
        pieces: &[usize],
    ) -> Result<(Vec<u8>, bool), FramingError> {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut rest = input;
        let mut sizes = pieces.iter().copied().cycle();
        loop {
            match framing.decode(&mut buf)? {
                Step::Data(data) => body.extend_from_slice(&data),
                Step::End => return Ok((body, true)),
                Step::NeedMore if rest.is_empty() => return Ok((body, false)),
                Step::NeedMore => {
                    let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
                    buf.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                }
            }
        }
    }

    fn chunked() -> Framing {
        Framing::Chunked(Chunk::Size)
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let input = b"5;name=value\r\nhello\r\n7 ; x\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n";
        let (body, ended) = decode_in_pieces(chunked(), input, &[1000]).unwrap();
        assert_eq!(body, b"hello, world");
        assert!(ended);
    }

    #[test]
    fn chunk_sizes_with_leading_zeros_and_spaces_before_extensions() {
        let input = b"0000000000000005 ;ext\r\nhello\r\n0\r\n\r\n";
        let (body, ended) = decode_in_pieces(chunked(), input, &[1000]).unwrap();
        assert_eq!(body, b"hello");
        assert!(ended);
    }

    #[test]
    fn bare_line_feeds_are_accepted() {
        let (body, ended) = decode_in_pieces(chunked(), b"3\nabc\n0\n\n", &[1]).unwrap();
        assert_eq!(body, b"abc");
        assert!(ended);
    }

    #[test]
    fn bytes_after_the_end_stay_in_the_buffer() {
        let mut framing = chunked();
        let mut buf = BytesMut::from(&b"1\r\na\r\n0\r\n\r\nHTTP/1.1"[..]);
        assert_eq!(framing.decode(&mut buf), Ok(Step::Data(Bytes::from("a"))));
        assert_eq!(framing.decode(&mut buf), Ok(Step::End));
        assert_eq!(&buf[..], b"HTTP/1.1");
    }

    #[test]
    fn broken_chunked_bodies_are_errors() {
        for input in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"5\r\nhello!!\r\n",
            b"ffffffffffffffffff\r\n",
            b"5 junk\r\nhello\r\n",
            b"5;a\rb\r\nhello\r\n",
            b"-5\r\nhello\r\n",
        ] {
            assert!(
                decode_in_pieces(chunked(), input, &[1000]).is_err(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let long_line = vec![b'1'; MAX_LINE + 10];
        assert!(decode_in_pieces(chunked(), &long_line, &[1000]).is_err());
    }

    #[test]
    fn content_length_stops_at_the_length() {
        let mut framing = Framing::Length(5);
        let mut buf = BytesMut::from(&b"helloNEXT"[..]);
        assert_eq!(
            framing.decode(&mut buf),
            Ok(Step::Data(Bytes::from("hello")))
        );
        assert_eq!(framing.decode(&mut buf), Ok(Step::End));
        assert_eq!(&buf[..], b"NEXT");
        assert_eq!(
            Framing::Length(0).decode(&mut BytesMut::new()),
            Ok(Step::End)
        );
    }

    #[test]
    fn closing_ends_only_a_body_without_length() {
        assert!(Framing::UntilClose.closed().is_ok());
        assert!(Framing::Length(3).closed().is_err());
        assert!(chunked().closed().is_err());
        assert!(Framing::Done.closed().is_ok());
    }

    /// A body encoded as chunks of the given sizes, with an extension on some size lines.
    fn encode_chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        let mut sizes = sizes.iter().copied().cycle();
        while !rest.is_empty() {
            let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
            let ext = if n % 2 == 0 { ";e=1" } else { "" };
            out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    proptest! {
        #[test]
        fn any_chunking_read_in_any_pieces_gives_the_body_back(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            chunks in proptest::collection::vec(1usize..300, 1..8),
            pieces in proptest::collection::vec(1usize..64, 1..8),
        ) {
            let wire = encode_chunked(&body, &chunks);
            let (decoded, ended) = decode_in_pieces(chunked(), &wire, &pieces).unwrap();
            prop_assert_eq!(decoded, body);
            prop_assert!(ended);
        }

        #[test]
        fn a_cut_chunked_body_never_ends(
            body in proptest::collection::vec(any::<u8>(), 1..500),
            cut in 0usize..1000,
        ) {
            let wire = encode_chunked(&body, &[37]);
            let cut = cut % wire.len();
            let (_, ended) = decode_in_pieces(chunked(), &wire[..cut], &[7]).unwrap();
            prop_assert!(!ended);
        }
    }
}
