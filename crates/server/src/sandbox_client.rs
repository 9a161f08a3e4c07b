//! `posada chat`: a guest in the terminal, through a running server's sandbox. Each stdin line
//! is a message; replies are printed with numbered options (answer "2" or the option's words,
//! as on e-mail).
//!
//! Like the web chat it long-polls for replies (one request waits up to 25 s), sends what the
//! guest typed in order with its own id (a retry is stored once), and never gives up on a 429, a
//! 5xx or a lost connection: it waits (the server's `Retry-After`, else 1 s doubling to 30 s)
//! and tries again, so a line typed is never lost.

use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a poll waits on the server for news.
const LONG_POLL_S: u64 = 25;
/// After stdin ends: leave once nothing new came for this long (and the last line was answered).
const QUIET: Duration = Duration::from_secs(4);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

enum Answer {
    Done(Value),
    /// Try again after this long (429, 5xx, no connection); the reason, for the guest.
    Later(Option<Duration>, String),
    /// Refused for what it is (4xx): do not repeat it.
    Refused(String),
}

async fn call(req: reqwest::RequestBuilder) -> Answer {
    let r = match req.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Answer::Later(None, "el servidor no respondió a tiempo".into()),
        Err(_) => return Answer::Later(None, "sin conexión con el servidor".into()),
    };
    let status = r.status();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.clamp(1, 120)));
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        Answer::Done(body)
    } else if status.as_u16() == 429 {
        Answer::Later(retry_after, "demasiados pedidos seguidos".into())
    } else if status.is_server_error() || status.as_u16() == 408 {
        Answer::Later(retry_after, format!("el servidor respondió {}", status.as_u16()))
    } else {
        let why = body["error"]["message"].as_str().map(String::from).unwrap_or_else(|| format!("error {status}"));
        Answer::Refused(why)
    }
}

fn next_backoff(current: Duration) -> Duration {
    (current * 2).min(MAX_BACKOFF)
}

/// `*negrita*` in bold on a terminal; left as written when the output is a file or a pipe.
fn styled(text: &str, terminal: bool) -> String {
    if !terminal {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('*') {
        let after = &rest[start + 1..];
        match after.find(['*', '\n']) {
            Some(end) if after[end..].starts_with('*') && end > 0 && !after.starts_with(' ') => {
                out.push_str(&rest[..start]);
                out.push_str("\x1b[1m");
                out.push_str(&after[..end]);
                out.push_str("\x1b[0m");
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[derive(Default)]
struct Progress {
    /// The last time something happened (a line sent, a reply printed).
    last_activity: Option<Instant>,
    /// Every line sent so far has been answered.
    answered: bool,
}

/// `channel`: play Instagram or Messenger instead of the sandbox's own chat (`--canal`).
pub async fn run(url: &str, name: &str, channel: Option<&str>) -> anyhow::Result<()> {
    let channel = channel.unwrap_or("").to_string();
    let base = url.trim_end_matches('/').to_string();
    let session = format!("cli-{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build()?;
    eprintln!("Chat de prueba con {base} — escribí y apretá Enter (Ctrl-D para salir).");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let progress = Arc::new(Mutex::new(Progress { answered: true, ..Default::default() }));

    // Replies: long polls, printed as they come.
    let poller = {
        let (http, base, session, progress) = (http.clone(), base.clone(), session.clone(), progress.clone());
        let channel = channel.clone();
        tokio::spawn(async move {
            let terminal = std::io::stdout().is_terminal();
            let mut after = 0i64;
            let mut backoff = Duration::from_secs(1);
            loop {
                let req = http
                    .get(format!("{base}/sandbox/api/messages"))
                    .query(&[("session", session.as_str()), ("channel", channel.as_str())])
                    .query(&[("after", after), ("wait", LONG_POLL_S as i64)])
                    .timeout(Duration::from_secs(LONG_POLL_S + 15));
                let started = Instant::now();
                match call(req).await {
                    Answer::Done(v) => {
                        backoff = Duration::from_secs(1);
                        let list = v["messages"].as_array().cloned().unwrap_or_default();
                        for m in &list {
                            after = after.max(m["id"].as_i64().unwrap_or(0));
                            if m["direction"] != "out" {
                                continue;
                            }
                            match m["kind"].as_str() {
                                Some("photo") => println!(
                                    "🖼  {} ({})",
                                    styled(m["payload"]["caption"].as_str().unwrap_or(""), terminal),
                                    m["payload"]["url"].as_str().unwrap_or("")
                                ),
                                _ => println!("{}", styled(m["body"].as_str().unwrap_or(""), terminal)),
                            }
                            println!();
                            let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
                            p.last_activity = Some(Instant::now());
                            p.answered = true;
                        }
                        // An early empty answer (the server is stopping or busy): do not spin.
                        if list.is_empty() && started.elapsed() < Duration::from_secs(1) {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                    }
                    Answer::Later(wait, why) => {
                        let wait = wait.unwrap_or(backoff);
                        backoff = next_backoff(backoff);
                        eprintln!("({why}; vuelvo a intentar en {} s)", wait.as_secs());
                        tokio::time::sleep(wait).await;
                    }
                    Answer::Refused(why) => {
                        eprintln!("(el servidor no deja leer el chat: {why}; vuelvo a intentar en 30 s)");
                        tokio::time::sleep(MAX_BACKOFF).await;
                    }
                }
            }
        })
    };

    // What the guest types: in order, each until the server has it.
    let mut sent = 0u64;
    while let Some(line) = rx.recv().await {
        if line.trim().is_empty() {
            continue;
        }
        sent += 1;
        let client_id = format!("{}-{sent}", &session[4..]);
        let body = json!({"session": session, "name": name, "text": line, "client_id": client_id, "channel": channel});
        let mut backoff = Duration::from_secs(1);
        loop {
            let req = http.post(format!("{base}/sandbox/api/messages")).json(&body).timeout(Duration::from_secs(30));
            match call(req).await {
                Answer::Done(_) => break,
                Answer::Later(wait, why) => {
                    let wait = wait.unwrap_or(backoff);
                    backoff = next_backoff(backoff);
                    eprintln!("({why}; tu mensaje sale en {} s)", wait.as_secs());
                    tokio::time::sleep(wait).await;
                }
                Answer::Refused(why) => {
                    eprintln!("(no se pudo enviar «{line}»: {why})");
                    break;
                }
            }
        }
        let mut p = progress.lock().unwrap_or_else(|e| e.into_inner());
        p.last_activity = Some(Instant::now());
        p.answered = false;
    }

    // Stdin ended: wait for the last replies (up to a minute for an unanswered line).
    let ended = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let p = progress.lock().unwrap_or_else(|e| e.into_inner());
        let quiet = p.last_activity.is_none_or(|t| t.elapsed() >= QUIET);
        if (quiet && p.answered) || ended.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    poller.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn bold_on_a_terminal_only() {
        assert_eq!(super::styled("tu reserva *R7K2Q9* está", true), "tu reserva \x1b[1mR7K2Q9\x1b[0m está");
        assert_eq!(super::styled("tu reserva *R7K2Q9* está", false), "tu reserva *R7K2Q9* está");
        assert_eq!(super::styled("2 * 3 = 6", true), "2 * 3 = 6");
        assert_eq!(super::styled("*a*b*", true), "\x1b[1ma\x1b[0mb*");
    }
}
