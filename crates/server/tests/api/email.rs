//! The e-mail channel against real local servers: Dovecot (IMAP, a passwd-file user and a
//! Maildir under a temporary directory, plain auth on loopback) and an aiosmtpd sink that needs
//! SMTP AUTH and writes every message it accepts to a directory. Both are Debian packages
//! (`dovecot-imapd`, `python3-aiosmtpd`), started by each test as its own processes on free
//! loopback ports. With `CI` set a missing server fails the test; elsewhere it skips loudly.

use crate::both_engines;
use crate::helpers::*;
use crate::whatsapp::{date_words, drain};
use futures_util::TryStreamExt;
use mail_parser::MessageParser;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const US: &str = "reservas@posada.test";
const IMAP_USER: &str = "reservas";
const IMAP_PASSWORD: &str = "imap-secret";
const SMTP_USER: &str = "posada-smtp";
const SMTP_PASSWORD: &str = "smtp-secret";
const OWNER_MAIL: &str = "duena@posada.test";

const SINK: &str = r#"
import asyncio, os, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, outdir, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

class Sink:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        fail = os.path.join(outdir, "FAIL")
        if os.path.exists(fail):
            return open(fail).read().strip()
        Sink.n += 1
        name = os.path.join(outdir, "msg-%05d.eml" % Sink.n)
        with open(name + ".tmp", "wb") as f:
            f.write(("X-Sink-Rcpt: %s\r\n" % ",".join(envelope.rcpt_tos)).encode())
            f.write(envelope.original_content)
        os.rename(name + ".tmp", name)
        return "250 OK"

def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
    # handled=False: aiosmtpd itself answers 535 to a wrong password (with the default it says nothing).
    return AuthResult(success=ok, handled=False)

if len(sys.argv) > 5:
    # TLS: STARTTLS required on `port`, TLS from the first byte on the next argument's port.
    import ssl
    cert, key, smtps_port = sys.argv[5], sys.argv[6], int(sys.argv[7])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    starttls = Controller(Sink(), hostname="127.0.0.1", port=port, authenticator=auth, auth_required=True,
                          tls_context=ctx, require_starttls=True, auth_require_tls=True)
    smtps = Controller(Sink(), hostname="127.0.0.1", port=smtps_port, authenticator=auth, auth_required=True,
                       ssl_context=ctx, auth_require_tls=False)
    starttls.start()
    smtps.start()
else:
    c = Controller(Sink(), hostname="127.0.0.1", port=port, authenticator=auth, auth_require_tls=False, auth_required=True)
    c.start()
print("ready", flush=True)
asyncio.new_event_loop().run_forever()
"#;

/// How the mail servers are set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct MailSetup {
    /// Dovecot announces no IDLE (some providers' IMAP does not have it).
    pub without_idle: bool,
    /// TLS only, with a certificate from a CA of the test's own (`ca.pem` in the directory):
    /// IMAP STARTTLS on `imap_port` and IMAPS on `imaps_port`, SMTP STARTTLS on `smtp_port`
    /// and SMTPS on `smtps_port`. No plaintext login anywhere.
    pub tls: bool,
}

/// Dovecot and the SMTP sink, killed on drop.
pub struct MailServers {
    pub dir: PathBuf,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub smtp_port: u16,
    pub smtps_port: u16,
    pub sink: PathBuf,
    pub setup: MailSetup,
    children: Vec<Child>,
}

impl Drop for MailServers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn python_with_aiosmtpd() -> Option<String> {
    ["/usr/bin/python3", "python3"].into_iter().map(String::from).find(|p| {
        Command::new(p)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn dovecot() -> Option<String> {
    ["/usr/sbin/dovecot", "dovecot"].into_iter().map(String::from).find(|p| {
        Command::new(p).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

fn wait_port(port: u16, what: &str, log: &Path) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start:\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

fn spawn_dovecot(dovecot: &str, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("dovecot.out")).unwrap();
    Command::new(dovecot)
        .args(["-F", "-c", dir.join("dovecot.conf").to_str().unwrap()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start dovecot")
}

/// A CA and a certificate for 127.0.0.1 signed by it (openssl, P-256: quick to make).
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Posada Test CA"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    // Dovecot drops privileges before it reads the key in some set-ups.
    Command::new("chmod").args(["0644", "server.key"]).current_dir(dir).status().unwrap();
}

impl MailServers {
    /// `None` (with a loud note) when the servers are not installed outside CI.
    pub fn start() -> Option<MailServers> {
        MailServers::start_with(MailSetup::default())
    }

    pub fn start_with(setup: MailSetup) -> Option<MailServers> {
        let (Some(dovecot), Some(python)) = (dovecot(), python_with_aiosmtpd()) else {
            let note = "dovecot (dovecot-imapd) or aiosmtpd (python3-aiosmtpd) is not installed";
            if std::env::var_os("CI").is_some() {
                panic!("{note}: the e-mail tests cannot run (scripts/test installs them)");
            }
            eprintln!("\n*** SKIPPED: {note}; install them to run the e-mail tests ***\n");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("posada-mail-{:012x}", rand::random::<u64>() >> 16));
        let (mail, home, sink) = (dir.join("mail"), dir.join("home"), dir.join("sink"));
        for d in [&dir, &mail, &home, &sink, &dir.join("run"), &dir.join("state")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap().trim().to_string();
        let (mail_uid, internal) = if uid == "0" {
            // Dovecot refuses to serve mail as root: the Maildir belongs to `nobody`.
            for d in [&mail, &home] {
                Command::new("chmod").args(["0777", d.to_str().unwrap()]).status().unwrap();
            }
            ("65534".to_string(), ("dovecot".to_string(), "dovenull".to_string()))
        } else {
            let user =
                String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string();
            (uid.clone(), (user.clone(), user))
        };
        std::fs::write(dir.join("passwd"), format!("{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}::::::\n")).unwrap();
        let (imap_port, imaps_port) = (free_port(), if setup.tls { free_port() } else { 0 });
        let d = dir.display();
        let ssl = if setup.tls {
            make_certificates(&dir);
            format!(
                "ssl = required\nssl_cert = <{d}/server.pem\nssl_key = <{d}/server.key\ndisable_plaintext_auth = yes\n"
            )
        } else {
            "ssl = no\ndisable_plaintext_auth = no\n".to_string()
        };
        // Dovecot's own list, less IDLE.
        let capability = if setup.without_idle {
            "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 LITERAL+ NOTIFY SPECIAL-USE\n"
        } else {
            ""
        };
        let imaps_ssl = if setup.tls { "    ssl = yes\n" } else { "" };
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\nprotocols = imap\nlisten = 127.0.0.1\n\
             {ssl}{capability}auth_mechanisms = plain login\nmail_location = maildir:{d}/mail/%n\n\
             first_valid_uid = 0\ndefault_internal_user = {}\ndefault_login_user = {}\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_uid} gid={mail_uid} home={d}/home/%n\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n{imaps_ssl}  }}\n}}\n",
            internal.0, internal.1
        );
        std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
        let mut children = vec![spawn_dovecot(&dovecot, &dir)];
        let (smtp_port, smtps_port) = (free_port(), if setup.tls { free_port() } else { 0 });
        std::fs::write(dir.join("sink.py"), SINK).unwrap();
        let sink_log = std::fs::File::create(dir.join("sink.out")).unwrap();
        let mut args = vec![smtp_port.to_string(), sink.display().to_string(), SMTP_USER.into(), SMTP_PASSWORD.into()];
        if setup.tls {
            args.extend([d.to_string() + "/server.pem", d.to_string() + "/server.key", smtps_port.to_string()]);
        }
        children.push(
            Command::new(&python)
                .arg(dir.join("sink.py"))
                .args(&args)
                .stdout(sink_log.try_clone().unwrap())
                .stderr(sink_log)
                .spawn()
                .expect("start the SMTP sink"),
        );
        let servers =
            MailServers { dir: dir.clone(), imap_port, imaps_port, smtp_port, smtps_port, sink, setup, children };
        wait_port(imap_port, "dovecot", &dir.join("dovecot.out"));
        wait_port(smtp_port, "the SMTP sink", &dir.join("sink.out"));
        if setup.tls {
            wait_port(imaps_port, "dovecot (imaps)", &dir.join("dovecot.out"));
            wait_port(smtps_port, "the SMTP sink (smtps)", &dir.join("sink.out"));
        }
        Some(servers)
    }

    /// Posada's settings for these servers (STARTTLS and the test CA with `MailSetup::tls`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let tls = if self.setup.tls { "starttls" } else { "none" };
        let mut env = vec![
            ("POSADA_IMAP_HOST", "127.0.0.1".into()),
            ("POSADA_IMAP_PORT", self.imap_port.to_string()),
            ("POSADA_IMAP_TLS", tls.into()),
            ("POSADA_IMAP_USER", IMAP_USER.into()),
            ("POSADA_IMAP_PASSWORD", IMAP_PASSWORD.into()),
            ("POSADA_SMTP_HOST", "127.0.0.1".into()),
            ("POSADA_SMTP_PORT", self.smtp_port.to_string()),
            ("POSADA_SMTP_TLS", tls.into()),
            ("POSADA_SMTP_USER", SMTP_USER.into()),
            ("POSADA_SMTP_PASSWORD", SMTP_PASSWORD.into()),
            ("POSADA_EMAIL_FROM", format!("Cabañas del Lago <{US}>")),
            ("POSADA_OWNER_EMAIL", OWNER_MAIL.into()),
            ("POSADA_PROPERTY_NAME", "Cabañas del Lago".into()),
        ];
        if self.setup.tls {
            env.push(("POSADA_EMAIL_CA_FILE", self.ca_file().display().to_string()));
        }
        env
    }

    /// The test's own IMAP session (over IMAPS with the test CA when the servers want TLS).
    async fn session(&self) -> async_imap::Session<Box<dyn server::channels::email::Io>> {
        use server::channels::email::Io;
        let port = if self.setup.tls { self.imaps_port } else { self.imap_port };
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let stream: Box<dyn Io> = if self.setup.tls {
            use tokio_rustls::rustls;
            let roots = server::config::TrustedRoots::from_pem_file(self.ca_file().to_str().unwrap()).unwrap();
            let mut store = rustls::RootCertStore::empty();
            store.add_parsable_certificates(roots.0);
            let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store)
            .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.unwrap();
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let mut client = async_imap::Client::new(stream);
        client.read_response().await.unwrap();
        let mut s = client.login(IMAP_USER, IMAP_PASSWORD).await.map_err(|(e, _)| e).unwrap();
        s.select("INBOX").await.unwrap();
        s
    }

    /// Stops Dovecot (every open IMAP connection drops), waits, starts it again on the same port.
    pub fn restart_imap(&mut self, down_for: Duration) {
        let _ = Command::new("kill").args(["-TERM", &self.children[0].id().to_string()]).status();
        let _ = self.children[0].wait();
        std::thread::sleep(down_for);
        self.children[0] = spawn_dovecot(&dovecot().unwrap(), &self.dir);
        wait_port(self.imap_port, "dovecot (again)", &self.dir.join("dovecot.out"));
    }

    /// The test CA's certificate (PEM), with `MailSetup::tls`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn dovecot_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// Delivers a raw message to the guests' mailbox (IMAP APPEND, unseen).
    pub async fn deliver(&self, raw: &str) {
        let mut s = self.session().await;
        s.append("INBOX", None, None, raw.replace("\r\n", "\n").replace('\n', "\r\n")).await.unwrap();
        s.logout().await.unwrap();
    }

    pub async fn unseen(&self) -> usize {
        let mut s = self.session().await;
        let n = s.uid_search("UNSEEN").await.unwrap().len();
        let all: Vec<_> = s.uid_fetch("1:*", "(UID FLAGS)").await.unwrap().try_collect().await.unwrap();
        assert!(!all.is_empty());
        s.logout().await.unwrap();
        n
    }

    /// Everything the SMTP sink accepted, oldest first.
    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<_> = std::fs::read_dir(&self.sink)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names.iter().map(|p| Received::parse(&std::fs::read(p).unwrap())).collect()
    }

    pub fn fail_smtp_with(&self, answer: Option<&str>) {
        let path = self.sink.join("FAIL");
        match answer {
            Some(a) => std::fs::write(path, a).unwrap(),
            None => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// One e-mail as the sink stored it.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: String,
    pub rcpt: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub in_reply_to: String,
    pub references: String,
}

impl Received {
    fn parse(bytes: &[u8]) -> Received {
        let raw = String::from_utf8_lossy(bytes).to_string();
        let m = MessageParser::default().parse(bytes).unwrap();
        let header = |name: &str| m.header_raw(name).unwrap_or("").trim().to_string();
        Received {
            rcpt: header("X-Sink-Rcpt"),
            subject: m.subject().unwrap_or("").to_string(),
            text: m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
            html: m.body_html(0).map(|t| t.to_string()).unwrap_or_default(),
            message_id: header("Message-ID"),
            in_reply_to: header("In-Reply-To"),
            references: header("References").split_whitespace().collect::<Vec<_>>().join(" "),
            raw,
        }
    }

    pub fn header(&self, name: &str) -> String {
        MessageParser::default().parse(self.raw.as_bytes()).unwrap().header_raw(name).unwrap_or("").trim().to_string()
    }
}

pub fn message(from: &str, message_id: &str, subject: &str, extra: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: Cabañas del Lago <{US}>\nSubject: {subject}\nDate: Mon, 23 Nov 2026 10:00:00 -0300\nMessage-ID: <{message_id}>\nMIME-Version: 1.0\n{extra}Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n"
    )
}

async fn email_app(engine: Engine, _servers: &MailServers, mut env: Vec<(&'static str, String)>) -> TestApp {
    env.push(("POSADA_PAYMENT_PROVIDER", "sandbox".into()));
    spawn_app_with(engine, Options { env, ..Default::default() }).await
}

/// Reads the mailbox now and runs the queue until it settles.
async fn poll_and_drain(app: &TestApp) {
    let outcome = app.state.chat.poll_mailbox().await;
    assert!(matches!(outcome, server::jobs::Outcome::Again(_)), "{outcome:?}");
    drain(app).await;
}

both_engines!(
    a_guest_writes_by_email_and_gets_threaded_replies_a_price_and_a_hold,
    html_only_and_outlook_replies_are_read_without_their_quotes,
    a_whatsapp_booking_that_left_an_address_gets_its_confirmation_by_email_and_the_owner_hears_once_on_each,
);

async fn a_guest_writes_by_email_and_gets_threaded_replies_a_price_and_a_hold(engine: Engine) {
    let Some(servers) = MailServers::start() else { return };
    let app = email_app(engine, &servers, servers.env()).await;
    let ask =
        format!("Hola! ¿Tienen lugar del {} al {} para 4 personas?\n\nSaludos,\nJuana", date_words(30), date_words(33));
    servers
        .deliver(&message("\"Juana Pérez\" <Juana@guest.test>", "m1@guest.test", "Consulta cabañas", "", &ask))
        .await;
    // The same message again (delivered twice, e.g. also in Cc): one answer only.
    servers
        .deliver(&message("\"Juana Pérez\" <juana@guest.test>", "m1@guest.test", "Consulta cabañas", "", &ask))
        .await;
    // Never answered: an auto-reply, a bounce, a newsletter and our own message.
    servers
        .deliver(&message(
            "Pedro <pedro@guest.test>",
            "ooo@guest.test",
            "Respuesta automática: Consulta",
            "Auto-Submitted: auto-replied\n",
            "Estoy de vacaciones hasta el lunes.",
        ))
        .await;
    servers
        .deliver(&message(
            "Mail Delivery System <MAILER-DAEMON@mx.guest.test>",
            "bounce@mx.guest.test",
            "Undelivered Mail Returned to Sender",
            "",
            "This is the mail system at host mx.guest.test. I'm sorry to have to inform you that your message could not be delivered.",
        ))
        .await;
    servers
        .deliver(&message(
            "Ofertas <ofertas@news.test>",
            "news@news.test",
            "Promo",
            "Precedence: bulk\nList-Id: <ofertas.news.test>\n",
            "¡Ofertas!",
        ))
        .await;
    servers.deliver(&message(&format!("Cabañas del Lago <{US}>"), "own@posada.test", "Re: Consulta", "", "hola")).await;
    // The job reads the mailbox (due at start-up), the inbox answers, the outbox sends.
    drain(&app).await;
    assert_eq!(servers.unseen().await, 0, "every message read is flagged \\Seen");
    let mails = servers.received();
    assert_eq!(mails.len(), 1, "one e-mail answers the guest, nothing else is answered: {mails:#?}");
    let reply = &mails[0];
    assert_eq!(reply.rcpt, "juana@guest.test");
    assert_eq!(reply.subject, "Re: Consulta cabañas");
    assert_eq!(reply.in_reply_to, "<m1@guest.test>");
    assert_eq!(reply.references, "<m1@guest.test>");
    assert_eq!(reply.header("Auto-Submitted"), "auto-replied");
    assert!(reply.header("From").contains(US), "{}", reply.raw);
    assert!(reply.raw.contains("multipart/alternative"), "text + HTML");
    assert!(reply.text.contains("$"), "a price: {}", reply.text);
    assert!(reply.text.contains("1. "), "numbered options: {}", reply.text);
    assert!(reply.text.contains("Respondé con el número"), "{}", reply.text);
    assert!(reply.html.contains("<ol>") && reply.html.contains("</html>"), "{}", reply.html);
    let contact = app.state.store.find_contact(domain::Channel::Email, "juana@guest.test").await.unwrap();
    assert_eq!(contact.name, "Juana Pérez");
    let thread = app.state.store.list_messages(contact.id, 0, 100).await.unwrap();
    let inbound: Vec<_> = thread.iter().filter(|m| m.direction == "in").collect();
    assert_eq!(inbound.len(), 1, "the duplicate Message-ID is stored once");
    assert!(inbound[0].body.starts_with("Hola! ¿Tienen lugar"), "{}", inbound[0].body);
    assert!(thread.iter().filter(|m| m.direction == "out").all(|m| m.status == domain::MessageStatus::Sent));
    let metrics = app.state.metrics.render();
    for reason in ["auto_reply", "bounce", "bulk", "own"] {
        assert!(metrics.contains(&format!("emails_ignored_total{{reason=\"{reason}\"}}")), "{reason}");
    }
    assert!(metrics.contains("emails_received_total") && metrics.contains("emails_sent_total"));

    // The guest answers "1" from Gmail, quoting us: the new text picks option 1, a hold.
    let quoted = format!(
        "1\n\nEl lun, 23 nov 2026 a las 10:05, Cabañas del Lago <{US}>\nescribió:\n> {}\n",
        reply.text.lines().next().unwrap_or("")
    );
    let refs = format!("In-Reply-To: {}\nReferences: <m1@guest.test> {}\n", reply.message_id, reply.message_id);
    servers
        .deliver(&message(
            "\"Juana Pérez\" <juana@guest.test>",
            "m2@guest.test",
            "Re: Consulta cabañas",
            &refs,
            &quoted,
        ))
        .await;
    poll_and_drain(&app).await;
    let (list, _) = app
        .state
        .store
        .list_reservations(&store::ReservationFilter {
            contact: Some("juana@guest.test".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    let after = app.state.store.list_messages(contact.id, 0, 100).await.unwrap();
    assert_eq!(
        list.len(),
        1,
        "one hold: {:#?}",
        after.iter().map(|m| (&m.direction, &m.body, &m.status)).collect::<Vec<_>>()
    );
    let hold = &list[0];
    assert_eq!(
        (hold.channel.as_str(), hold.guest_email.as_deref(), hold.guest_name.as_str(), hold.guests),
        ("email", Some("juana@guest.test"), "Juana Pérez", 4)
    );
    let later: Vec<Received> = servers.received().into_iter().skip(1).collect();
    assert!(!later.is_empty());
    let all_text: String = later.iter().map(|m| m.text.clone()).collect::<Vec<_>>().join("\n");
    assert!(all_text.contains(&hold.code), "the hold summary names the code: {all_text}");
    assert!(all_text.contains(&format!("{}/sandbox/pay/", app.address)), "the payment link: {all_text}");
    for m in &later {
        assert_eq!(m.in_reply_to, "<m2@guest.test>", "threaded under the guest's last e-mail");
        assert_eq!(m.references, format!("<m1@guest.test> {} <m2@guest.test>", reply.message_id));
        assert_eq!(m.subject, "Re: Consulta cabañas");
    }
    let inbound = app.state.store.last_inbound_message(contact.id).await.unwrap().unwrap();
    assert_eq!(inbound.body, "1", "only the new text of the reply");
    app.stop().await;
}

async fn html_only_and_outlook_replies_are_read_without_their_quotes(engine: Engine) {
    let Some(servers) = MailServers::start() else { return };
    let app = email_app(engine, &servers, servers.env()).await;
    let html = "From: Ana <ana@guest.test>\nTo: reservas@posada.test\nSubject: Mascotas\nMessage-ID: <h1@guest.test>\nMIME-Version: 1.0\nContent-Type: text/html; charset=UTF-8\n\n<html><body><div dir=\"ltr\">Hola, &iquest;aceptan mascotas?<br>Gracias</div><div class=\"gmail_quote\"><blockquote>somos 9 personas</blockquote></div></body></html>\n";
    servers.deliver(html).await;
    let outlook = format!(
        "Somos 2, del {} al {}.\n\nGracias,\nPedro\n\n________________________________\nDe: Cabañas del Lago <{US}>\nEnviado: lunes, 23 de noviembre de 2026 10:15\nPara: Pedro\nAsunto: Consulta\n\nsomos 9 personas\n",
        date_words(40),
        date_words(42)
    );
    servers.deliver(&message("Pedro Gómez <pedro@guest.test>", "o1@guest.test", "RE: Consulta", "", &outlook)).await;
    // The SMTP server is down for a while: the replies wait and go once it is back.
    // (One round of jobs: two failed sends, fewer than the five that open the breaker.)
    servers.fail_smtp_with(Some("451 4.3.0 Try again later"));
    app.run_jobs().await;
    assert!(servers.received().is_empty());
    assert!(app.state.store.outbox_stats(app.clock.now()).await.unwrap().queued > 0);
    servers.fail_smtp_with(None);
    for _ in 0..4 {
        app.clock.advance(chrono::Duration::minutes(2));
        drain(&app).await;
    }
    assert_eq!(app.state.store.outbox_stats(app.clock.now()).await.unwrap().queued, 0);
    let mails = servers.received();
    let to = |rcpt: &str| mails.iter().filter(|m| m.rcpt == rcpt).collect::<Vec<_>>();
    assert_eq!(to("ana@guest.test").len(), 1, "{mails:#?}");
    assert_eq!(to("pedro@guest.test").len(), 1, "{mails:#?}");
    assert_eq!(to("pedro@guest.test")[0].subject, "Re: Consulta");
    assert!(to("ana@guest.test")[0].text.to_lowercase().contains("mascota"), "{}", to("ana@guest.test")[0].text);
    let body_of = |address: &'static str| {
        let store = app.state.store.clone();
        async move {
            let c = store.find_contact(domain::Channel::Email, address).await.unwrap();
            store.last_inbound_message(c.id).await.unwrap().unwrap().body
        }
    };
    assert_eq!(body_of("ana@guest.test").await, "Hola, ¿aceptan mascotas?\nGracias");
    assert_eq!(
        body_of("pedro@guest.test").await,
        format!("Somos 2, del {} al {}.\n\nGracias,\nPedro", date_words(40), date_words(42))
    );
    assert!(app.state.metrics.render().contains("emails_failed_total{result=\"retry\"}"));
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Crashes: the real binary dies between reading a message and recording it.

fn binary_env(db: &TestDatabase, servers: &MailServers, fault: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("POSADA_DATABASE_URL", db.url.clone()),
        ("POSADA_BIND", "127.0.0.1:0".to_string()),
        ("POSADA_JWT_SECRET", JWT_SECRET.to_string()),
        ("POSADA_LOG", "info".to_string()),
        ("POSADA_JOB_LEASE_S", "1".to_string()),
        ("POSADA_EMAIL_POLL_SECONDS", "1".to_string()),
    ];
    env.extend(servers.env());
    if let Some(point) = fault {
        env.push(("POSADA_FAULT", point.to_string()));
    }
    env
}

async fn wait_until(mut done: impl FnMut() -> bool, what: &str, logs: impl Fn() -> String) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}:\n{}", logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_between_fetch_and_commit_loses_nothing_and_repeats_nothing() {
    let Some(servers) = MailServers::start() else { return };
    let db = TestDatabase::new(Engine::Sqlite).await;
    for (round, point) in ["email_before_inbox_insert", "email_before_mark_seen"].into_iter().enumerate() {
        let mut doomed = Binary::start(&["serve"], &binary_env(&db, &servers, Some(point)));
        let ask = format!(
            "Hola, ¿tienen lugar del {} al {} para 2?",
            date_words(50 + round as i64 * 5),
            date_words(52 + round as i64 * 5)
        );
        servers
            .deliver(&message("Lucía <lucia@guest.test>", &format!("c{round}@guest.test"), "Consulta", "", &ask))
            .await;
        let child = &mut doomed.child;
        for _ in 0..300 {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(doomed.child.try_wait().unwrap().is_some(), "no crash at {point}:\n{}", doomed.logs());
        assert!(doomed.logs().contains(point));
        assert_eq!(servers.unseen().await, 1, "the message is still unseen after the crash at {point}");
        let healthy = Binary::start(&["serve"], &binary_env(&db, &servers, None));
        let expected = round + 1;
        wait_until(|| servers.received().len() >= expected, "the answer", || healthy.logs()).await;
        // A few more polls: nothing more arrives.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(servers.received().len(), expected, "one answer per message ({point})");
        assert_eq!(servers.unseen().await, 0);
        let store = store::connect(&db.url, 2).await.unwrap();
        let c = store.find_contact(domain::Channel::Email, "lucia@guest.test").await.unwrap();
        let inbound =
            store.list_messages(c.id, 0, 100).await.unwrap().into_iter().filter(|m| m.direction == "in").count();
        assert_eq!(inbound, expected, "each message stored once ({point})");
        store.close().await;
        healthy.terminate();
    }
}

/// `env` with these variables set (replaced where present).
fn with(mut env: Vec<(&'static str, String)>, set: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    for (k, v) in set {
        env.retain(|(key, _)| key != k);
        env.push((k, v.clone()));
    }
    env
}

// ---------------------------------------------------------------------------------------------
// New mail at once: IMAP IDLE in the real binary, and the poll alone where there is no IDLE.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_imap_idle_new_mail_is_answered_long_before_the_next_poll() {
    let Some(mut servers) = MailServers::start() else { return };
    let db = TestDatabase::new(Engine::Sqlite).await;
    // The poll runs at start-up and then in an hour: only IDLE can notice the second e-mail.
    let env = with(binary_env(&db, &servers, None), &[("POSADA_EMAIL_POLL_SECONDS", "3600".into())]);
    let ask = |n: i64| format!("Hola, ¿tienen lugar del {} al {} para 2?", date_words(60 + n), date_words(62 + n));
    servers.deliver(&message("Lucía <lucia@guest.test>", "i1@guest.test", "Consulta", "", &ask(0))).await;
    let posada = Binary::start(&["serve"], &env);
    wait_until(|| servers.received().len() == 1, "the first answer", || posada.logs()).await;
    wait_until(|| posada.logs().contains("waiting for new mail with IMAP IDLE"), "IDLE", || posada.logs()).await;
    // Let the start-up poll finish for sure, then write again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered = std::time::Instant::now();
    servers.deliver(&message("Tomás <tomas@guest.test>", "i2@guest.test", "Consulta", "", &ask(10))).await;
    wait_until(|| servers.received().len() == 2, "the answer after an IDLE notice", || posada.logs()).await;
    // A figure, not an assertion: delivery to the reply in the sink (≤ 100 ms of it is our polling).
    eprintln!("IDLE: the reply reached the SMTP sink {:?} after the e-mail was delivered", delivered.elapsed());
    let mails = servers.received();
    assert_eq!(mails[1].rcpt, "tomas@guest.test");
    assert_eq!(mails[1].in_reply_to, "<i2@guest.test>");
    assert_eq!(servers.unseen().await, 0);
    // Nothing is answered twice although the poll and IDLE share the mailbox.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(servers.received().len(), 2);
    // The IMAP server goes away and comes back: the watcher opens a new IDLE connection.
    servers.restart_imap(Duration::from_secs(1));
    let idles = || posada.logs().matches("waiting for new mail with IMAP IDLE").count();
    wait_until(|| idles() >= 2, "IDLE again after the restart", || posada.logs()).await;
    assert!(posada.logs().contains("IMAP IDLE connection lost"));
    servers.deliver(&message("Ana <ana@guest.test>", "i3@guest.test", "Consulta", "", &ask(20))).await;
    wait_until(|| servers.received().len() == 3, "the answer after the reconnect", || posada.logs()).await;
    assert_eq!(servers.received()[2].rcpt, "ana@guest.test");
    // A clean stop leaves IDLE (DONE, LOGOUT) instead of hanging on it.
    let (status, logs) = posada.terminate();
    assert!(status.success(), "{logs}");
    assert!(logs.contains("\"stopped\""), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_imap_idle_the_poll_alone_reads_the_mailbox() {
    let Some(servers) = MailServers::start_with(MailSetup { without_idle: true, ..Default::default() }) else {
        return;
    };
    let db = TestDatabase::new(Engine::Sqlite).await;
    let posada = Binary::start(&["serve"], &binary_env(&db, &servers, None));
    wait_until(|| posada.logs().contains("the IMAP server has no IDLE"), "the no-IDLE notice", || posada.logs()).await;
    let ask = format!("Hola, ¿tienen lugar del {} al {} para 2?", date_words(70), date_words(72));
    servers.deliver(&message("Lucía <lucia@guest.test>", "n1@guest.test", "Consulta", "", &ask)).await;
    wait_until(|| servers.received().len() == 1, "the answer by the poll", || posada.logs()).await;
    assert!(!posada.logs().contains("waiting for new mail with IMAP IDLE"));
    posada.terminate();
}

// ---------------------------------------------------------------------------------------------
// TLS: implicit and STARTTLS, verified against a private CA; without it nothing is read or sent.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_starttls_verify_the_server_and_never_log_in_in_plain() {
    let Some(servers) = MailServers::start_with(MailSetup { tls: true, ..Default::default() }) else { return };
    let ask = |n: i64| format!("Hola, ¿tienen lugar del {} al {} para 2?", date_words(80 + n), date_words(82 + n));
    servers.deliver(&message("Lucía <lucia@guest.test>", "t1@guest.test", "Consulta", "", &ask(0))).await;

    // Without the CA the certificate is unknown: a clear error, the message stays unseen, no mail goes.
    let untrusting = servers.env().into_iter().filter(|(k, _)| *k != "POSADA_EMAIL_CA_FILE").collect::<Vec<_>>();
    let config = test_config("sqlite::memory:", &untrusting);
    let email = config.email.clone().unwrap();
    let err = server::channels::email::Inbox::open(&email.imap, "INBOX").await.err().expect("an untrusted server");
    assert!(err.contains("certificate"), "{err}");
    let mailer = server::channels::email::Mailer::new(&email.smtp, &email.from_address).unwrap();
    let probe = lettre::Message::builder()
        .from(US.parse().unwrap())
        .to("lucia@guest.test".parse().unwrap())
        .subject("x")
        .body("x".to_string())
        .unwrap();
    let sent = mailer.send(probe).await;
    assert!(matches!(&sent, Err(server::channels::SendError::Retryable(e)) if e.contains("certificate")), "{sent:?}");
    let app = email_app(Engine::Sqlite, &servers, untrusting).await;
    app.state.chat.poll_mailbox().await;
    drain(&app).await;
    assert_eq!(servers.unseen().await, 1);
    assert!(servers.received().is_empty());
    assert!(app.state.metrics.render().contains("email_polls_total{result=\"error\"}"));
    app.stop().await;

    // STARTTLS both ways with the CA file.
    let app = email_app(Engine::Sqlite, &servers, servers.env()).await;
    poll_and_drain(&app).await;
    assert_eq!(servers.unseen().await, 0);
    let mails = servers.received();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].rcpt, "lucia@guest.test");
    app.stop().await;

    // TLS from the first byte (IMAPS, SMTPS).
    servers.deliver(&message("Tomás <tomas@guest.test>", "t2@guest.test", "Consulta", "", &ask(10))).await;
    let implicit = with(
        servers.env(),
        &[
            ("POSADA_IMAP_TLS", "tls".into()),
            ("POSADA_IMAP_PORT", servers.imaps_port.to_string()),
            ("POSADA_SMTP_TLS", "tls".into()),
            ("POSADA_SMTP_PORT", servers.smtps_port.to_string()),
        ],
    );
    let app = email_app(Engine::Sqlite, &servers, implicit).await;
    poll_and_drain(&app).await;
    let mails = servers.received();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert_eq!(mails[1].rcpt, "tomas@guest.test");
    app.stop().await;

    // Dovecot's own record: every login of ours was over TLS.
    let log = servers.dovecot_log();
    let logins: Vec<&str> = log.lines().filter(|l| l.contains("Login: user=<reservas>")).collect();
    assert!(logins.len() >= 3, "{log}");
    assert!(logins.iter().all(|l| l.contains("TLS")), "{log}");
}

// ---------------------------------------------------------------------------------------------
// The owner by e-mail (and WhatsApp), and the e-mail copy of a WhatsApp reservation.

async fn a_whatsapp_booking_that_left_an_address_gets_its_confirmation_by_email_and_the_owner_hears_once_on_each(
    engine: Engine,
) {
    use crate::whatsapp::{GUEST, OWNER, envelope, guest_reservations, post_signed, sent, text, wa_app};
    let Some(servers) = MailServers::start() else { return };
    let graph = FakeUpstream::start().await;
    let mut extra = servers.env();
    extra.push(("POSADA_PAYMENT_PROVIDER", "sandbox".into()));
    extra.push(("POSADA_EMAIL_COPY_WHATSAPP", "true".into()));
    let app = wa_app(engine, &graph, extra).await;
    let ask = format!(
        "hola, quiero reservar la cabaña grande del {} al {} para 4. mi mail es Juana.P@Correo.test",
        date_words(30),
        date_words(33)
    );
    post_signed(&app, &envelope(vec![text("wamid.C1", &ask)], "Juana")).await;
    drain(&app).await;
    post_signed(&app, &envelope(vec![text("wamid.C1b", "dale")], "Juana")).await;
    drain(&app).await;
    let list = guest_reservations(&app).await;
    assert_eq!(list.len(), 1, "a hold: {:?}", sent(&graph));
    let hold = &list[0];
    assert_eq!(hold.guest_email.as_deref(), Some("juana.p@correo.test"), "the address from the chat");
    assert!(servers.received().is_empty(), "nothing by e-mail before the payment");

    // The guest pays in the sandbox checkout.
    let r: serde_json::Value = app.get(&format!("/api/v1/reservations/{}", hold.code)).await.json().await.unwrap();
    let link = r["payment_link"].as_str().expect("a payment link").to_string();
    let pref = link.rsplit('/').next().unwrap();
    let paid = app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap();
    assert!(paid.status().is_success());
    drain(&app).await;
    let r: serde_json::Value = app.get(&format!("/api/v1/reservations/{}", hold.code)).await.json().await.unwrap();
    assert_eq!(r["reservation_status"], "confirmed");

    let mails = servers.received();
    let to = |rcpt: &str| mails.iter().filter(|m| m.rcpt == rcpt).cloned().collect::<Vec<_>>();
    let copy = to("juana.p@correo.test");
    assert_eq!(copy.len(), 1, "{mails:#?}");
    assert_eq!(copy[0].subject, format!("Reserva {} confirmada", hold.code));
    assert!(copy[0].text.contains("está confirmada") && copy[0].text.contains(&hold.code), "{}", copy[0].text);
    assert!(copy[0].html.contains(&hold.code));
    let owner_mail = to(OWNER_MAIL);
    assert_eq!(owner_mail.len(), 1, "the owner's notice by e-mail, once: {mails:#?}");
    assert!(owner_mail[0].subject.starts_with("[Cabañas del Lago] ✅ Seña recibida"), "{}", owner_mail[0].subject);
    assert!(owner_mail[0].text.contains(&hold.code));
    let owner_wa = |graph: &FakeUpstream| {
        sent(graph).into_iter().filter(|m| m["to"] == OWNER).filter(|m| m.to_string().contains("Seña recibida")).count()
    };
    assert_eq!(owner_wa(&graph), 1, "the owner's notice on WhatsApp, once: {:?}", sent(&graph));
    let guest_wa = sent(&graph).into_iter().filter(|m| m["to"] == GUEST).map(|m| m.to_string()).collect::<Vec<_>>();
    assert!(guest_wa.iter().any(|m| m.contains("confirmada") || m.contains(&hold.code)), "{guest_wa:?}");

    // The WhatsApp half of an alert, run again (a retry), repeats only itself.
    let before = servers.received().len();
    assert!(matches!(app.state.chat.alert_owner("Prueba", Some("whatsapp")).await, server::jobs::Outcome::Done));
    drain(&app).await;
    assert_eq!(servers.received().len(), before, "no second e-mail");
    assert!(sent(&graph).iter().any(|m| m["to"] == OWNER && m.to_string().contains("Prueba")));
    app.stop().await;
}

#[tokio::test]
async fn a_guest_who_asks_for_a_person_by_email_reaches_the_owner_by_email() {
    let Some(servers) = MailServers::start() else { return };
    let app = email_app(Engine::Sqlite, &servers, servers.env()).await;
    servers
        .deliver(&message(
            "\"Juana Pérez\" <juana@guest.test>",
            "p1@guest.test",
            "Consulta",
            "",
            "Hola, quiero hablar con una persona por favor",
        ))
        .await;
    poll_and_drain(&app).await;
    let mails = servers.received();
    let owner: Vec<_> = mails.iter().filter(|m| m.rcpt == OWNER_MAIL).collect();
    assert_eq!(owner.len(), 1, "{mails:#?}");
    assert!(owner[0].subject.starts_with("[Cabañas del Lago] "), "{}", owner[0].subject);
    assert!(owner[0].text.contains("juana@guest.test") || owner[0].text.contains("Juana"), "{}", owner[0].text);
    let guest: Vec<_> = mails.iter().filter(|m| m.rcpt == "juana@guest.test").collect();
    assert_eq!(guest.len(), 1, "the guest is told someone will write: {mails:#?}");
    assert_eq!(guest[0].in_reply_to, "<p1@guest.test>");
    let contact = app.state.store.find_contact(domain::Channel::Email, "juana@guest.test").await.unwrap();
    assert!(contact.handed_off);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// An audio attachment goes through speech-to-text like a WhatsApp voice note.

#[tokio::test]
async fn an_emailed_audio_is_transcribed_and_answered() {
    use base64::Engine as _;
    let Some(servers) = MailServers::start() else { return };
    let stt = FakeUpstream::start().await;
    let heard = format!("hola tienen lugar del {} al {} para dos personas", date_words(90), date_words(93));
    stt.respond_always(Canned::json(
        200,
        serde_json::json!({"text": heard, "language": "es", "segments": [{"avg_logprob": -0.1, "no_speech_prob": 0.01}]}),
    ));
    let env =
        with(servers.env(), &[("POSADA_STT_API_BASE", stt.address.clone()), ("POSADA_STT_API_KEY", "stt-key".into())]);
    let app = email_app(Engine::Sqlite, &servers, env).await;
    let voice: &[u8] = include_bytes!("../fixtures/voice_note.ogg");
    let b64 = base64::engine::general_purpose::STANDARD.encode(voice);
    let wrapped: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let raw = format!(
        "From: Lucía <lucia@guest.test>\nTo: {US}\nSubject: Consulta\nMessage-ID: <a1@guest.test>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=UTF-8\n\n\
         \n--b1\nContent-Type: audio/ogg\nContent-Disposition: attachment; filename=\"consulta.ogg\"\n\
         Content-Transfer-Encoding: base64\n\n{}\n--b1--\n",
        wrapped.join("\n")
    );
    servers.deliver(&raw).await;
    poll_and_drain(&app).await;
    // The transcription request carried the attachment's bytes.
    let requests = stt.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/audio/transcriptions");
    assert!(requests[0].body.windows(voice.len()).any(|w| w == voice), "the attachment's bytes, untouched");
    // The conversation keeps the transcript (not the audio), and the reply is about what was said.
    let contact = app.state.store.find_contact(domain::Channel::Email, "lucia@guest.test").await.unwrap();
    let inbound = app.state.store.last_inbound_message(contact.id).await.unwrap().unwrap();
    assert_eq!((inbound.kind.as_str(), inbound.body.as_str()), ("voice", heard.as_str()));
    assert!(inbound.payload["audio"].get("data").is_none(), "no audio bytes in the conversation");
    let mails = servers.received();
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_eq!(mails[0].in_reply_to, "<a1@guest.test>");
    assert!(mails[0].text.contains('$'), "a price for the heard dates: {}", mails[0].text);
    app.stop().await;
}
