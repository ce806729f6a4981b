//! What happens inside a dialog: confirmation and time limits, INFO (DTMF), re-INVITE
//! (hold, resume, codec change), OPTIONS, the end of a call.

use super::*;

impl Inner {
    pub(super) async fn follow_dialogs(
        self: Arc<Self>,
        mut states: rsipstack::dialog::dialog::DialogStateReceiver,
    ) {
        while let Some(state) = states.recv().await {
            match state {
                DialogState::Confirmed(id, _) => {
                    // The limits (maximum duration, session timer) run from here.
                    let _ = self.input(&id.call_id, Input::Confirmed);
                }
                DialogState::Info(id, req, handle) => {
                    let ct = req
                        .headers
                        .iter()
                        .find_map(|h| match h {
                            Header::ContentType(c) => Some(c.value().to_string()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    let status = match dtmf::digit_of_info(&ct, req.body()) {
                        Some(digit) => {
                            let call = self
                                .lock_calls()
                                .get(&id.call_id)
                                .map(|c| (c.info.id.clone(), c.matcher.clone()));
                            if let Some((call_id, matcher)) = call {
                                report_digit(
                                    &self.events,
                                    &call_id,
                                    &matcher,
                                    digit,
                                    DtmfMethod::Info,
                                );
                            }
                            StatusCode::OK
                        }
                        None if ct.is_empty() => StatusCode::OK,
                        None => StatusCode::UnsupportedMediaType,
                    };
                    tokio::spawn(async move {
                        let _ = handle.reply(status).await;
                    });
                }
                DialogState::Updated(id, req, handle) => {
                    let me = self.clone();
                    tokio::spawn(async move { me.on_reinvite(id.call_id, req, handle).await });
                }
                DialogState::Options(_, _, handle) => {
                    tokio::spawn(async move {
                        let _ = handle
                            .respond(StatusCode::OK, Some(capability_headers()), None)
                            .await;
                    });
                }
                DialogState::Terminated(id, reason) => {
                    self.dialogs.remove_dialog(&id);
                    self.end(&id.call_id, reason_text(&reason), ending_of(&reason));
                }
                DialogState::Trying(id) | DialogState::Early(id, _) => {
                    if let Some(c) = self.lock_calls().get_mut(&id.call_id) {
                        c.provisional = true;
                    }
                }
                DialogState::Message(_, _, handle)
                | DialogState::Notify(_, _, handle)
                | DialogState::Refer(_, _, handle)
                | DialogState::Publish(_, _, handle) => {
                    tokio::spawn(async move {
                        let _ = handle.reply(StatusCode::MethodNotAllowed).await;
                    });
                }
                _ => {}
            }
        }
    }

    /// Forgets a call, stops its media and reports it ended.
    pub(super) fn end(&self, key: &str, reason: String, ending: Ending) {
        let ended = self.lock_calls().remove(key);
        if let Some(mut call) = ended {
            // The core ends with the call (nothing of it is carried out any more); its
            // timer task sees the call gone and ends.
            call.core.handle(Input::Ended, Instant::now());
            call.wake.notify_one();
            // Media threads are joined away from the dialog-state task: a join takes a few
            // ms, and calls ending back to back would otherwise queue behind each other.
            if let Some(media) = call.media.take() {
                tokio::task::spawn_blocking(move || drop(media));
            }
            call.info.state = CallState::Terminated;
            call.info.reason = Some(reason);
            call.info.ending = Some(ending);
            self.stats.ended.fetch_add(1, Ordering::Relaxed);
            let _ = self.events.send(SipEvent::Call(call.info));
        }
    }

    /// A re-INVITE: hold/resume and codec changes. The answer keeps our RTP port.
    pub(super) async fn on_reinvite(
        &self,
        key: String,
        req: rsipstack::sip::Request,
        handle: rsipstack::dialog::dialog::TransactionHandle,
    ) {
        let body = req.body();
        // Any re-INVITE or UPDATE refreshes a session timer.
        let session_headers = match self.lock_calls().get_mut(&key) {
            Some(c) => {
                c.core.handle(Input::SessionRefreshed, Instant::now());
                c.wake.notify_one();
                c.session_headers()
            }
            None => Vec::new(),
        };
        if body.is_empty() && req.method == Method::Update {
            let _ = handle
                .respond(StatusCode::OK, Some(session_headers), None)
                .await;
            return;
        }
        let result = (|| {
            if body.is_empty() {
                // An offerless re-INVITE (session refresh): our last answer is the offer.
                return self
                    .lock_calls()
                    .get(&key)
                    .map(|c| c.answer.clone())
                    .ok_or_else(|| SipError::NoSuchCall(key.clone()));
            }
            let offer = sdp::parse_offer(
                std::str::from_utf8(body).map_err(|_| SipError::Malformed("SDP".into()))?,
            )?;
            let mut calls = self.lock_calls();
            let call = calls
                .get_mut(&key)
                .ok_or_else(|| SipError::NoSuchCall(key.clone()))?;
            let port = match call.media.as_ref() {
                Some(_) => call_port(&call.answer).unwrap_or(0),
                None => return Err(SipError::NoSuchCall(key.clone())),
            };
            let local = self.local_sdp(port);
            let (negotiated, answer) = sdp::answer(&offer, &local)?;
            let restart = negotiated.codec != call.negotiated.codec
                || negotiated.payload_type != call.negotiated.payload_type
                || negotiated.remote != call.negotiated.remote;
            let sends = matches!(
                negotiated.direction,
                Direction::SendRecv | Direction::SendOnly
            ) && offer.addr != IpAddr::from([0, 0, 0, 0]);
            call.negotiated = negotiated;
            call.answer = answer.clone();
            if restart {
                // New codec or address: the old receiver lets go of the port first.
                call.media = None;
                let socket = UdpSocket::bind(SocketAddr::new(self.rtp_bind_ip(), port))?;
                call.media = Some(self.start_media(call, socket)?);
            }
            if let Some(tx) = call.media.as_ref().and_then(|m| m.tx.as_ref()) {
                tx.set_sending(sends);
            }
            Ok(answer)
        })();
        let _ = match result {
            Ok(answer) => {
                handle
                    .respond(
                        StatusCode::OK,
                        Some(
                            [Header::ContentType("application/sdp".into())]
                                .into_iter()
                                .chain(session_headers)
                                .collect(),
                        ),
                        Some(answer.into_bytes()),
                    )
                    .await
            }
            Err(SipError::NoSuchCall(_)) => {
                handle.reply(StatusCode::CallTransactionDoesNotExist).await
            }
            Err(e) => {
                tracing::info!("re-INVITE refused: {e}");
                handle.reply(StatusCode::NotAcceptableHere).await
            }
        };
    }
}

/// The RTP port in an answer we made.
pub(super) fn call_port(answer: &str) -> Option<u16> {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

pub(super) fn report_digit(
    events: &mpsc::UnboundedSender<SipEvent>,
    call: &str,
    matcher: &Mutex<SequenceMatcher>,
    digit: Digit,
    method: DtmfMethod,
) {
    let _ = events.send(SipEvent::Dtmf {
        call: call.into(),
        digit,
        method,
    });
    let hit = matcher
        .lock()
        .ok()
        .and_then(|mut m| m.push(digit, Instant::now()).cloned());
    if let Some(sequence) = hit {
        let _ = events.send(SipEvent::Sequence {
            call: call.into(),
            sequence,
        });
    }
}

/// How a dialog's end counts for the call.
fn ending_of(r: &TerminatedReason) -> Ending {
    match r {
        TerminatedReason::UacBye | TerminatedReason::UasBye | TerminatedReason::UacCancel => {
            Ending::Hangup
        }
        TerminatedReason::UacBusy | TerminatedReason::UasBusy => Ending::Busy,
        TerminatedReason::UasDecline => Ending::Denied,
        TerminatedReason::Timeout => Ending::NoAnswer,
        TerminatedReason::ProxyError(c)
        | TerminatedReason::UacOther(c)
        | TerminatedReason::UasOther(c) => Ending::of_status(u16::from(c.clone())),
        TerminatedReason::ProxyAuthRequired => Ending::Failed,
    }
}

pub(super) fn reason_text(r: &TerminatedReason) -> String {
    match r {
        TerminatedReason::UacBye => "remote hung up".into(),
        TerminatedReason::UasBye => "netamp hung up".into(),
        TerminatedReason::UacCancel => "cancelled".into(),
        TerminatedReason::Timeout => "timeout".into(),
        other => format!("{other:?}"),
    }
}
