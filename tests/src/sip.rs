//! SIP peers for the end-to-end tests: SIPp scenarios written on the fly, pcap files of RTP
//! made in the test (so jitter, loss and codecs are chosen, not found), and test signals.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::require_tool;

/// SIPp's bundled pcaps (Debian `sip-tester`).
pub const SIPP_PCAPS: &str = "/usr/share/sip-tester";

/// A speech-like test signal at `rate`: a gliding two-tone voice with syllable-rate
/// loudness and (with `pauses`) short silences, so alignment has one clear answer.
pub fn voice(rate: u32, seconds: f32, pauses: bool) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    let mut phase = [0f32; 2];
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let f0 = 180.0 + 120.0 * (t * 1.3).sin() + 60.0 * (t * 3.1).sin();
            let syllable = 0.4 + 0.6 * (t * 4.0 * std::f32::consts::PI).sin().abs();
            let pause = if pauses && (t * 1.5).fract() > 0.85 {
                0.0
            } else {
                1.0
            };
            let mut s = 0.0;
            for (k, p) in phase.iter_mut().enumerate() {
                let f = f0 * (k as f32 * 2.7 + 1.0);
                *p = (*p + 2.0 * std::f32::consts::PI * f / rate as f32)
                    % (2.0 * std::f32::consts::PI);
                s += p.sin() / (k as f32 + 1.0);
            }
            0.3 * s * syllable * pause
        })
        .collect()
}

/// The `m=` formats of a PCMU offer with RFC 4733 telephone-events.
pub const PCMU_TE: &str =
    "0 101\na=rtpmap:0 PCMU/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15";

/// A PCMU stream of `pcm` (8 kHz) in 20 ms packets, SSRC `0x5EED`; `at` gives each
/// packet's send time (`None` drops it).
pub fn pcmu_packets(pcm: &[f32], at: impl Fn(usize) -> Option<f64>) -> Vec<TimedRtp> {
    let mut out: Vec<TimedRtp> = pcm
        .chunks_exact(160)
        .enumerate()
        .filter_map(|(i, frame)| {
            let payload: Vec<u8> = frame
                .iter()
                .map(|s| netamp_dsp::g711::linear_to_ulaw((s * 32767.0) as i16))
                .collect();
            Some(TimedRtp {
                at: at(i)?,
                rtp: rtp(0, i == 0, 7000 + i as u16, 160 * i as u32, 0x5EED, &payload),
            })
        })
        .collect();
    out.sort_by(|a, b| a.at.total_cmp(&b.at));
    out
}

/// One RTP packet and when it is sent, seconds from the first.
#[derive(Debug, Clone)]
pub struct TimedRtp {
    /// Send time.
    pub at: f64,
    /// The RTP packet (header and payload).
    pub rtp: Vec<u8>,
}

/// An RTP packet.
pub fn rtp(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// RTP packets of a pcap (Ethernet, IPv4, UDP), with their times.
pub fn read_pcap(path: &Path) -> Vec<TimedRtp> {
    let d = std::fs::read(path).expect("read pcap");
    let mut out = Vec::new();
    let mut off = 24;
    let mut first = None;
    while off + 16 <= d.len() {
        let u = |o: usize| u32::from_le_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
        let (sec, usec, incl) = (u(off), u(off + 4), u(off + 8) as usize);
        let pkt = &d[off + 16..(off + 16 + incl).min(d.len())];
        off += 16 + incl;
        let t = f64::from(sec) + f64::from(usec) / 1e6;
        let t0 = *first.get_or_insert(t);
        if pkt.len() > 42 {
            out.push(TimedRtp {
                at: t - t0,
                rtp: pkt[42..].to_vec(),
            });
        }
    }
    out
}

/// Writes packets as a pcap SIPp can play (`play_pcap_audio`): Ethernet, IPv4, UDP.
pub fn write_pcap(path: &Path, packets: &[TimedRtp]) {
    let mut d = Vec::new();
    d.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    d.extend_from_slice(&2u16.to_le_bytes());
    d.extend_from_slice(&4u16.to_le_bytes());
    d.extend_from_slice(&0i32.to_le_bytes());
    d.extend_from_slice(&0u32.to_le_bytes());
    d.extend_from_slice(&65535u32.to_le_bytes());
    d.extend_from_slice(&1u32.to_le_bytes());
    let base = 1_700_000_000f64;
    for p in packets {
        let t = base + p.at;
        let udp_len = 8 + p.rtp.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&[
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ]);
        frame.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
        frame.extend_from_slice(&[
            0x1f,
            0x40,
            0x1f,
            0x40,
            (udp_len >> 8) as u8,
            udp_len as u8,
            0,
            0,
        ]);
        frame.extend_from_slice(&p.rtp);
        d.extend_from_slice(&(t.trunc() as u32).to_le_bytes());
        d.extend_from_slice(&((t.fract() * 1e6).round() as u32).to_le_bytes());
        d.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        d.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        d.extend_from_slice(&frame);
    }
    std::fs::write(path, d).expect("write pcap");
}

/// The next port to try for a peer's socket. Peers' ports come from below the kernel's
/// ephemeral range (32768 up), so no `bind(0)` elsewhere (a daemon's sockets, another
/// test's) is handed a port picked here before the peer binds it — the race that made
/// SIPp and baresip exit with "Address already in use"; the counter keeps the tests of
/// one process from picking the same port twice.
fn next_port(step: u16) -> u16 {
    static NEXT: std::sync::Mutex<u16> = std::sync::Mutex::new(0);
    let mut next = NEXT.lock().unwrap_or_else(|p| p.into_inner());
    if *next == 0 || *next > 32_000 {
        // Processes started side by side begin apart.
        *next = 20_000 + (std::process::id() % 20) as u16 * 600;
    }
    let p = *next;
    *next += step;
    p
}

fn free(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_ok()
        && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A free even UDP port with the next three free too (SIPp binds audio RTP and RTCP
/// there, and video RTP and RTCP above them).
pub fn free_media_port() -> u16 {
    for _ in 0..1000 {
        let n = next_port(5);
        let p = n + (n & 1);
        if (p..p + 4).all(free) {
            return p;
        }
    }
    panic!("no free media port pair");
}

/// A port free for UDP and TCP, with the next one left alone (baresip listens for TLS
/// on its SIP port + 1).
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let p = next_port(2);
        if free(p) && free(p + 1) {
            return p;
        }
    }
    panic!("no free port");
}

/// The headers every in-dialog request of a SIPp UAC scenario carries.
const DIALOG: &str = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\nFrom: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]\nTo: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]\nCall-ID: [call_id]\nContact: sip:sipp@[local_ip]:[local_port]\nMax-Forwards: 70";

/// A UAC scenario: INVITE with `media` (the `m=` line's formats and their `a=` lines),
/// ACK, then `middle` (actions, INFOs; use [`info`] and [`play`]), then BYE.
/// `expect` is the final response awaited (`200`, or `486` for a refused call).
pub fn uac_scenario(media: &str, middle: &str, expect: u16) -> String {
    let invite = format!(
        "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\nFrom: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]\nTo: [service] <sip:[service]@[remote_ip]:[remote_port]>\nCall-ID: [call_id]\nCSeq: 1 INVITE\nContact: sip:sipp@[local_ip]:[local_port]\nMax-Forwards: 70\nContent-Type: application/sdp\nContent-Length: [len]\n\nv=0\no=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[local_ip_type] [local_ip]\nt=0 0\nm=audio [auto_media_port] RTP/AVP {media}\n"
    );
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"netamp\">\n<send retrans=\"500\"><![CDATA[\n{invite}]]></send>\n<recv response=\"100\" optional=\"true\"/>\n<recv response=\"180\" optional=\"true\"/>\n"
    );
    if expect != 200 {
        x.push_str(&format!(
            "<recv response=\"{expect}\"/>\n<send><![CDATA[\nACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n{DIALOG}\nCSeq: 1 ACK\nContent-Length: 0\n\n]]></send>\n</scenario>\n"
        ));
        return x;
    }
    x.push_str(&format!(
        "<recv response=\"200\" rtd=\"true\"/>\n<send><![CDATA[\nACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n{DIALOG}\nCSeq: 1 ACK\nContent-Length: 0\n\n]]></send>\n{middle}\n<send retrans=\"500\"><![CDATA[\nBYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n{DIALOG}\nCSeq: 99 BYE\nContent-Length: 0\n\n]]></send>\n<recv response=\"200\"/>\n</scenario>\n"
    ));
    x
}

/// A UAC scenario whose caller gives up: INVITE, 180, `ring_ms` of ringing, CANCEL
/// (200 for it, 487 for the INVITE, ACK).
pub fn cancel_scenario(media: &str, ring_ms: u32) -> String {
    let ringing = uac_scenario(media, "", 180).replace(
        "<recv response=\"180\" optional=\"true\"/>\n<recv response=\"180\"/>",
        "<recv response=\"180\"/>",
    );
    let invite_end = ringing
        .find("<recv response=\"180\"/>")
        .unwrap_or(ringing.len());
    format!(
        "{}<recv response=\"180\"/>\n<pause milliseconds=\"{ring_ms}\"/>\n<send><![CDATA[\nCANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n[last_Via:]\nFrom: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]\nTo: [service] <sip:[service]@[remote_ip]:[remote_port]>\nCall-ID: [call_id]\nCSeq: 1 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n]]></send>\n<recv response=\"200\"/>\n<recv response=\"487\"/>\n<send><![CDATA[\nACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n[last_Via:]\n[last_From:]\n[last_To:]\nCall-ID: [call_id]\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n]]></send>\n</scenario>\n",
        &ringing[..invite_end]
    )
}

/// A callee (UAS) scenario: answers an INVITE (180, then 200 with a PCMU answer), waits
/// for the caller's BYE and answers it.
pub fn uas_scenario() -> String {
    let reply = |status: &str, extra: &str| {
        format!(
            "<send{}><![CDATA[\nSIP/2.0 {status}\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\n[last_CSeq:]\nContact: <sip:[local_ip]:[local_port];transport=[transport]>\n{extra}]]></send>\n",
            if status.starts_with("200") { " retrans=\"500\"" } else { "" }
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"uas\">\n<recv request=\"INVITE\" crlf=\"true\"/>\n{}{}<recv request=\"ACK\" crlf=\"true\"/>\n<recv request=\"BYE\"/>\n<send><![CDATA[\nSIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n]]></send>\n</scenario>\n",
        reply("180 Ringing", "Content-Length: 0\n\n"),
        reply(
            "200 OK",
            "Content-Type: application/sdp\nContent-Length: [len]\n\nv=0\no=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] [media_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n"
        ),
    )
}

/// Scenario steps: play a pcap and wait `ms`.
pub fn play(pcap: &Path, ms: u32) -> String {
    format!(
        "<nop><action><exec play_pcap_audio=\"{}\"/></action></nop>\n<pause milliseconds=\"{ms}\"/>\n",
        pcap.display()
    )
}

/// Scenario step: a SIP INFO carrying `body` as `content_type`, CSeq `cseq`, expecting 200.
pub fn info(cseq: u32, content_type: &str, body: &str) -> String {
    format!(
        "<send retrans=\"500\"><![CDATA[\nINFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n{DIALOG}\nCSeq: {cseq} INFO\nContent-Type: {content_type}\nContent-Length: [len]\n\n{body}\n]]></send>\n<recv response=\"200\"/>\n"
    )
}

/// A SIPp run in its own directory.
pub struct Sipp {
    /// Scratch directory (scenario, logs).
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Sipp {
    /// Starts SIPp with `scenario` against `target` (`127.0.0.1:port`) for `calls` calls;
    /// `extra` goes on the command line (`-t t1`, `-r 20`…).
    pub fn start(scenario: &str, target: &str, calls: u32, extra: &[&str]) -> Sipp {
        let media = free_media_port().to_string();
        let mut args = vec!["-mp", &media, "-trace_stat"];
        args.extend_from_slice(extra);
        args.push(target);
        Self::spawn(scenario, free_port(), calls, &args)
    }

    /// Starts SIPp as a server (a registrar, a callee) on `port` for `calls` calls.
    pub fn server(scenario: &str, port: u16, calls: u32) -> Sipp {
        Self::spawn(scenario, port, calls, &[])
    }

    fn spawn(scenario: &str, port: u16, calls: u32, args: &[&str]) -> Sipp {
        require_tool("sipp");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("scenario.xml");
        std::fs::write(&file, scenario).expect("write scenario");
        let child = Command::new("sipp")
            .current_dir(dir.path())
            .arg("-sf")
            .arg(&file)
            .args(["-m", &calls.to_string(), "-i", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-trace_err", "-nostdin"])
            .args(["-timeout", "120s", "-timeout_error"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp");
        Sipp { dir, child }
    }

    /// Waits for SIPp to finish; its exit code (0: every call succeeded), its error log and
    /// its statistics (the `-trace_stat` CSV).
    pub fn wait(mut self) -> (i32, String) {
        let status = self.child.wait().expect("wait sipp");
        let mut errors = String::new();
        if let Ok(rd) = std::fs::read_dir(self.dir.path()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with("_errors.log") || name.ends_with(".csv") {
                    errors.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        (status.code().unwrap_or(-1), errors)
    }

    /// Path of a file in SIPp's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A SIPp registrar that challenges every REGISTER without valid digest credentials for
/// `user`/`password` (realm `netamp.test`), grants `expires` seconds, and ends after
/// `registrations` successful ones (refreshes included).
pub fn registrar_scenario(user: &str, password: &str, expires: u32, registrations: u32) -> String {
    let reply = |status: &str, extra: &str| {
        format!(
            "SIP/2.0 {status}\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\n[last_CSeq:]\n{extra}Content-Length: 0\n\n"
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar">
<label id="loop"/>
<recv request="REGISTER"><action><verifyauth assign_to="authok" username="{user}" password="{password}"/></action></recv>
<nop test="authok" next="ok"/>
<send next="loop"><![CDATA[
{challenge}]]></send>
<label id="ok"/>
<send><![CDATA[
{ok}]]></send>
<nop><action><add assign_to="n" value="1"/><test assign_to="done" variable="n" compare="greater_than_equal" value="{registrations}"/></action></nop>
<nop test="done" next="end"/>
<nop next="loop"/>
<label id="end"/>
</scenario>
"#,
        challenge = reply(
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"netamp.test\", nonce=\"[pid]n[call_number]\", algorithm=MD5\n"
        ),
        ok = reply("200 OK", &format!("[last_Contact:];expires={expires}\nExpires: {expires}\n")),
    )
}

/// A SIPp registrar behind which netamp looks NATed: its replies put `received=192.0.2.7`
/// and `rport=5999` in the Via (RFC 3581), and it grants the retried REGISTER only when
/// its Contact matches `contact` (a regular expression) and it carries valid digest
/// credentials for `user`/`password` (otherwise the call fails on a timeout). One
/// registration, then it ends.
pub fn nat_registrar_scenario(user: &str, password: &str, contact: &str) -> String {
    // A reply whose Via is the request's (`via`, a scenario variable) as a NAT'd
    // registrar annotates it.
    let reply = |status: &str, via: &str, extra: &str| {
        format!(
            "SIP/2.0 {status}\nVia: [${via}];received=192.0.2.7;rport=5999\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\n[last_CSeq:]\n{extra}Content-Length: 0\n\n"
        )
    };
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="nat-registrar">
<recv request="REGISTER"><action><ereg regexp="SIP/2.0/UDP [^;]+;branch=[^;, ]+" search_in="hdr" header="Via:" check_it="true" assign_to="via"/></action></recv>
<send><![CDATA[
{challenge}]]></send>
<recv request="REGISTER"><action><verifyauth assign_to="authok" username="{user}" password="{password}"/><ereg regexp="{contact}" search_in="hdr" header="Contact:" check_it="true" assign_to="seen"/><ereg regexp="SIP/2.0/UDP [^;]+;(rport;)?branch=[^;, ]+" search_in="hdr" header="Via:" check_it="true" assign_to="via2,rp"/></action></recv>
<nop test="authok" next="ok"/>
<recv request="REGISTER" timeout="200"/>
<label id="ok"/>
<send><![CDATA[
{ok}]]></send>
</scenario>
"#,
        challenge = reply(
            "401 Unauthorized",
            "via",
            "WWW-Authenticate: Digest realm=\"netamp.test\", nonce=\"[pid]n[call_number]\", algorithm=MD5\n"
        ),
        ok = reply(
            "200 OK",
            "via2",
            "[last_Contact:];expires=60\nExpires: 60\nX-Contact-Seen: [$seen][$rp]\n"
        ),
    )
}

/// A SIPp PBX for one account: its first call is netamp's REGISTER (challenged, then
/// granted `expires` s), its second netamp's INVITE, which it challenges with 401 and
/// answers (PCMU) only when the retried INVITE carries valid digest credentials for
/// `user`/`password` and a From of `user`; then it waits for netamp's BYE. Run it with
/// two calls.
pub fn pbx_scenario(user: &str, password: &str, expires: u32) -> String {
    let reply = |status: &str, extra: &str| {
        format!(
            "SIP/2.0 {status}\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\n[last_CSeq:]\n{extra}Content-Length: 0\n\n"
        )
    };
    let auth =
        format!(r#"<verifyauth assign_to="authok" username="{user}" password="{password}"/>"#);
    let sdp = "v=0\no=pbx 1 1 IN IP4 [local_ip]\ns=-\nc=IN IP4 [local_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\n";
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="pbx">
<recv request="REGISTER" optional="true" next="register"><action>{auth}</action></recv>
<recv request="INVITE"><action>{auth}</action></recv>
<nop test="authok" next="answer"/>
<send><![CDATA[
{challenge_invite}]]></send>
<recv request="ACK"/>
<recv request="INVITE"><action>{auth}<ereg regexp="sip:{user}@" search_in="hdr" header="From:" check_it="true" assign_to="caller"/></action></recv>
<nop test="authok" next="answer"/>
<send><![CDATA[
{forbidden}]]></send>
<recv request="ACK" next="end"/>
<label id="answer"/>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:pbx@[local_ip]:[local_port]>
X-Caller: [$caller]
Content-Type: application/sdp
Content-Length: [len]

{sdp}]]></send>
<recv request="ACK"/>
<recv request="BYE"/>
<send><![CDATA[
{ok}]]></send>
<nop next="end"/>
<label id="register"/>
<nop test="authok" next="registered"/>
<send><![CDATA[
{challenge_register}]]></send>
<recv request="REGISTER"><action>{auth}</action></recv>
<label id="registered"/>
<send><![CDATA[
{granted}]]></send>
<label id="end"/>
</scenario>
"#,
        // 401, as Asterisk challenges an INVITE (SIPp 3.6's verifyauth did not accept
        // netamp's answer to a 407 in `Proxy-Authorization`, so 407 is not tested here).
        challenge_invite = reply(
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"netamp.test\", nonce=\"[pid]i[call_number]\", algorithm=MD5\n"
        ),
        challenge_register = reply(
            "401 Unauthorized",
            "WWW-Authenticate: Digest realm=\"netamp.test\", nonce=\"[pid]r[call_number]\", algorithm=MD5\n"
        ),
        forbidden = reply("403 Forbidden", ""),
        ok = reply("200 OK", ""),
        granted = reply("200 OK", &format!("[last_Contact:];expires={expires}\nExpires: {expires}\n")),
    )
}

/// Sends one OPTIONS to `sip` (`127.0.0.1:port`, UDP) and returns the first line of the
/// answer, or `None` when none comes within `wait`.
pub fn options_status(sip: &str, wait: std::time::Duration) -> Option<String> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(wait)).expect("timeout");
    let port = sock.local_addr().expect("addr").port();
    let req = format!("OPTIONS sip:netamp@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-probe-{port}\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:netamp@127.0.0.1>\r\nCall-ID: probe-{port}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    sock.send_to(req.as_bytes(), sip).expect("send");
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    let reply = String::from_utf8_lossy(&buf[..n]);
    reply.lines().next().map(str::to_string)
}
