//! A POST to `transmit.cgi` with neither Content-Length nor chunked framing (ffmpeg
//! `-chunked_post 0`, senders that stream until they hang up). HTTP/1.1 gives such a
//! request no body, so hyper would read the audio as a next request. netamp reads the
//! first request head of each connection itself and, for that one case, declares the
//! body as long as a body can be ([`UNTIL_CLOSE`]): hyper then streams it until the sender
//! closes, exactly as it does for the fake Content-Length VMS senders already send.
//! Every other request goes to hyper byte for byte as it came.
//!
//! Only the first request of a connection is looked at: a sender that streams until it
//! closes opens a connection for it; an unframed POST later on a keep-alive connection
//! still gets the 411 of [`super::transmit`].

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The Content-Length given to a body that runs until the sender closes.
pub const UNTIL_CLOSE: u64 = 1 << 62;

/// Longest request head looked at; longer ones go to hyper untouched (it refuses them).
const MAX_HEAD: usize = 16 * 1024;

/// The path whose unframed bodies are streams.
const TRANSMIT: &str = "/axis-cgi/audio/transmit.cgi";

/// A connection (plain TCP, or TLS over it) whose first bytes were read ahead (and
/// perhaps rewritten).
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

/// Reads the connection's first request head (at most `timeout`) and gives an unframed
/// transmit POST its length; `None` when the peer sent nothing in time or went away.
pub async fn prepare<S: AsyncRead + Unpin>(
    mut stream: S,
    timeout: Duration,
) -> Option<Prefixed<S>> {
    let mut head = Vec::with_capacity(1024);
    let read = async {
        let mut buf = [0u8; 2048];
        // Until the head is complete (CRLF or bare-LF line ends, as hyper takes them), is
        // not HTTP at all (hyper answers that at once), or is too long to look at.
        while head_state(&head) == Head::Partial && head.len() < MAX_HEAD {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return head.is_empty(),
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        false
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(false) => {}
        // Nothing came, or nothing in time: as hyper's own header timeout, close.
        Ok(true) | Err(_) => return None,
    }
    let prefix = with_length(head);
    Some(Prefixed {
        prefix,
        pos: 0,
        inner: stream,
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Head {
    Partial,
    Done,
}

fn head_state(head: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    match httparse::Request::new(&mut headers).parse(head) {
        Ok(httparse::Status::Partial) => Head::Partial,
        // Complete, or not a request netamp can read: hyper takes it from here.
        Ok(httparse::Status::Complete(_)) | Err(_) => Head::Done,
    }
}

/// `head` (a request head and perhaps body bytes after it) with a Content-Length added
/// when it is an unframed POST to transmit.cgi; unchanged otherwise.
pub fn with_length(mut head: Vec<u8>) -> Vec<u8> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(&head) else {
        return head;
    };
    let path = req.path.unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    let framed = req.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("content-length")
            || h.name.eq_ignore_ascii_case("transfer-encoding")
    });
    if req.method != Some("POST") || path != TRANSMIT || framed {
        return head;
    }
    // Right after the request line: header order does not matter, and this is a line
    // start whichever line ends (CRLF or bare LF) the client uses.
    let Some(line_end) = head.iter().position(|&b| b == b'\n') else {
        return head;
    };
    let line = format!("Content-Length: {UNTIL_CLOSE}\r\n");
    head.splice(line_end + 1..line_end + 1, line.into_bytes());
    head
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = &mut *self;
        if me.pos < me.prefix.len() {
            let n = (me.prefix.len() - me.pos).min(buf.remaining());
            buf.put_slice(&me.prefix[me.pos..me.pos + n]);
            me.pos += n;
            if me.pos == me.prefix.len() {
                me.prefix = Vec::new();
                me.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut me.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpStream;

    #[test]
    fn only_an_unframed_transmit_post_gets_a_length() {
        let unframed = b"POST /axis-cgi/audio/transmit.cgi?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: audio/basic\r\n\r\n\xff\xff".to_vec();
        let out = with_length(unframed);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("POST /axis-cgi/audio/transmit.cgi?x=1 HTTP/1.1\r\nContent-Length: 4611686018427387904\r\nHost: a\r\nContent-Type: audio/basic\r\n\r\n"),
            "{text}"
        );
        assert!(
            out.ends_with(b"\r\n\r\n\xff\xff"),
            "the body bytes stay after the head"
        );
        for same in [
            &b"POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"[..],
            b"POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            b"POST /axis-cgi/param.cgi HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /axis-cgi/audio/transmit.cgi HTTP/1.1\r\n\r\n",
            b"POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\nHost: a\r\n",
            b"\x16\x03\x01garbage",
        ] {
            assert_eq!(
                with_length(same.to_vec()),
                same,
                "{}",
                String::from_utf8_lossy(same)
            );
        }
    }

    #[tokio::test]
    async fn the_read_ahead_bytes_come_first_then_the_socket() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.expect("connect");
            c.write_all(b"POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\n")
                .await
                .expect("write");
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.write_all(b"Host: a\r\n\r\nbody").await.expect("write");
            c.shutdown().await.expect("shutdown");
        });
        let (s, _) = listener.accept().await.expect("accept");
        let mut p = prepare(s, Duration::from_secs(5)).await.expect("a head");
        let mut all = Vec::new();
        p.read_to_end(&mut all).await.expect("read");
        client.await.expect("client");
        assert_eq!(
            String::from_utf8_lossy(&all),
            format!("POST /axis-cgi/audio/transmit.cgi HTTP/1.1\r\nContent-Length: {UNTIL_CLOSE}\r\nHost: a\r\n\r\nbody")
        );
        // A connection that sends nothing is closed when its time is up.
        let idle = TcpStream::connect(addr);
        let (idle, accepted) = tokio::join!(idle, listener.accept());
        let _idle = idle.expect("connect");
        let (s, _) = accepted.expect("accept");
        assert!(prepare(s, Duration::from_millis(50)).await.is_none());
    }
}
