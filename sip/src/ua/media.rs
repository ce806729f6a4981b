//! A call's media: the RTP/RTCP port pair, the receiver, the sender and RTCP.

use super::*;

impl Inner {
    /// netamp's side of an offer/answer on RTP `port`.
    pub(super) fn local_sdp(&self, port: u16) -> sdp::Local {
        let session = now_ms();
        sdp::Local {
            addr: self.media_ip,
            port,
            codecs: self.config.codecs.clone(),
            direction: self.config.direction,
            ptime: self.config.ptime,
            session: (session, session),
            crypto: None,
        }
    }

    /// A new call's state with its sockets, before media starts.
    pub(super) fn new_call(
        &self,
        info: CallInfo,
        dialog: InviteDialog,
        sdp: (String, Negotiated),
        sockets: (UdpSocket, UdpSocket),
        core: CallCore,
    ) -> Call {
        Call {
            info,
            dialog,
            answer: sdp.0,
            negotiated: sdp.1,
            socket: Some(sockets.0),
            rtcp: sockets.1,
            media: None,
            matcher: Arc::new(Mutex::new(SequenceMatcher::new(
                self.config.sequences.clone(),
                SEQUENCE_GAP,
            ))),
            core,
            wake: Arc::new(tokio::sync::Notify::new()),
            provisional: false,
        }
    }

    /// Binds the next free RTP port pair of the range: RTP on an even port, RTCP on the
    /// next one.
    pub(super) fn bind_rtp(&self) -> Result<(UdpSocket, UdpSocket), SipError> {
        let (first, count) = self.config.rtp_ports;
        let first = first + first % 2;
        let count = count.max(2);
        let mut next = self.next_port.lock().unwrap_or_else(|p| p.into_inner());
        let bind_ip = self.rtp_bind_ip();
        for _ in 0..count / 2 {
            let port = (*next).max(first);
            *next = if port.saturating_add(2) >= first.saturating_add(count) {
                first
            } else {
                port + 2
            };
            if let (Ok(rtp), Ok(rtcp)) = (
                UdpSocket::bind(SocketAddr::new(bind_ip, port)),
                UdpSocket::bind(SocketAddr::new(bind_ip, port + 1)),
            ) {
                return Ok((rtp, rtcp));
            }
        }
        Err(SipError::Limit(format!(
            "no free RTP port in {first}..{}",
            first.saturating_add(count)
        )))
    }

    /// The address RTP sockets bind to.
    pub(super) fn rtp_bind_ip(&self) -> IpAddr {
        if self.local.ip().is_unspecified() {
            self.local.ip()
        } else {
            self.media_ip
        }
    }

    /// Starts the call's media on one thread: the receiver, with the sender and RTCP as
    /// its tasks.
    pub(super) fn start_media(&self, call: &Call, socket: UdpSocket) -> Result<Media, SipError> {
        let n = &call.negotiated;
        let peer: PeerLatch = Arc::new(Mutex::new(None));
        let out_socket = socket.try_clone()?;
        let events = self.events.clone();
        let id = call.info.id.clone();
        let matcher = call.matcher.clone();
        let sends = matches!(n.direction, Direction::SendRecv | Direction::SendOnly);
        let ssrc = rand_u32();
        let rx_stats = Arc::new(crate::rtp_params::RtpInStats::default());
        let mut tasks = Vec::new();
        let srtp = n
            .srtp
            .as_ref()
            .map(crate::srtp::CallSrtp::new)
            .transpose()?;
        let (rtp_out, rtp_in, rtcp_srtp) = match srtp {
            Some(s) => (
                Some(s.rtp_out),
                Some(s.rtp_in),
                Some(crate::rtcp::SrtcpPair {
                    out: s.rtcp_out,
                    input: s.rtcp_in,
                }),
            ),
            None => (None, None, None),
        };
        let tx = if n.remote.1 != 0 {
            let (tx, task) = RtpSender::task(
                out_socket,
                (self.taps)(),
                RtpOutParams {
                    codec: n.codec,
                    payload_type: n.payload_type,
                    remote: SocketAddr::new(n.remote.0, n.remote.1),
                    ssrc,
                },
                peer.clone(),
                rtp_out,
            )?;
            tx.set_sending(sends);
            tasks.push(task);
            Some(tx)
        } else {
            None
        };
        // RTCP is best effort: a call goes on without it.
        let rtcp = (n.remote.1 != 0)
            .then(|| {
                let socket = call.rtcp.try_clone().ok()?;
                RtcpSession::task(
                    socket,
                    SocketAddr::new(n.remote.0, n.remote.1.saturating_add(1)),
                    self.config.latch_window,
                    RtcpSources {
                        ssrc,
                        rx: Some(rx_stats.clone()),
                        tx: tx.as_ref().map(|t| t.stats_handle()),
                        srtp: rtcp_srtp,
                    },
                )
                .map_err(|e| tracing::warn!("RTCP: {e}"))
                .ok()
            })
            .flatten()
            .map(|(session, task)| {
                tasks.push(task);
                session
            });
        let rx = RtpReceiver::start_with(
            socket,
            self.engine.clone(),
            RtpInParams {
                codec: n.codec,
                payload_type: n.payload_type,
                telephone_event: n.telephone_event,
                jitter: self.config.jitter,
                remote: SocketAddr::new(n.remote.0, n.remote.1),
                latch_window: self.config.latch_window,
            },
            peer,
            Box::new(move |digit| report_digit(&events, &id, &matcher, digit, DtmfMethod::Rtp)),
            rx_stats,
            tasks,
            rtp_in,
        )?;
        Ok(Media { rx, tx, rtcp })
    }
}

/// A random SSRC (no `rand` dependency: time and a counter through a mixer).
pub(super) fn rand_u32() -> u32 {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut x = now_ms() ^ (N.fetch_add(1, Ordering::Relaxed) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x as u32
}
