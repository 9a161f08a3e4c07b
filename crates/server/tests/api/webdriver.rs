//! A small W3C WebDriver client over reqwest (no fantoccini/thirtyfour): starts `chromedriver`
//! on a free port, opens headless Chromium, navigates, finds by CSS, clicks, types, reads text,
//! runs a script, takes screenshots. In CI (`CI` set) a missing browser is a failure; elsewhere
//! the browser tests skip loudly.

#![allow(dead_code)]

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

fn find_binary(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    for name in names {
        for dir in path.split(':').chain(["/usr/bin", "/usr/lib/chromium"]) {
            let p = std::path::Path::new(dir).join(name);
            if p.is_file() {
                return Some(p.display().to_string());
            }
        }
    }
    None
}

impl Driver {
    /// `None` (after a loud message) when Chromium or chromedriver is missing outside CI.
    pub async fn start(width: u32, height: u32) -> Option<Driver> {
        let driver = find_binary(&["chromedriver"]);
        let browser = find_binary(&["chromium", "chromium-browser", "google-chrome"]);
        let (Some(driver), Some(browser)) = (driver, browser) else {
            let msg = "chromium and chromium-driver are needed for the browser tests \
                       (apt-get install -y chromium chromium-driver)";
            if std::env::var_os("CI").is_some() {
                panic!("CI is set: {msg}");
            }
            eprintln!("\n\n*** SKIPPING BROWSER TESTS: {msg}\n\n");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": browser,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--no-first-run",
                    "--hide-scrollbars", "--lang=es-AR",
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let mut d = Driver { child, base, session: String::new(), http };
        let v = d.call(reqwest::Method::POST, "/session", Some(caps)).await;
        d.session = v["sessionId"].as_str().expect("session id").to_string();
        d.resize(width, height).await;
        Some(d)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        } else if method == reqwest::Method::POST {
            req = req.json(&json!({}));
        }
        let r = req.send().await.expect("webdriver request");
        let status = r.status();
        let v: Value = r.json().await.expect("webdriver json");
        assert!(status.is_success(), "webdriver {method} {path}: {status} {v}");
        v["value"].clone()
    }

    async fn s(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body).await
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.s(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    pub async fn goto(&self, url: &str) {
        self.s(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.s(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or("").to_string()
    }

    /// Finds an element by CSS, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self
                .http
                .post(format!("{}/session/{}/element", self.base, self.session))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap();
            if r.status().is_success() {
                let v: Value = r.json().await.unwrap();
                match v["value"][ELEMENT].as_str() {
                    Some(id) => return id.to_string(),
                    None => panic!("webdriver find {css:?}: {v}"),
                }
            }
            assert!(Instant::now() < deadline, "no element matches {css:?} on {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Finds `css` and acts on it. The dashboard's live sections redraw themselves: an element
    /// found just before a redraw is stale by the time it is used, so it is found again (as a
    /// person would simply click the new button), for up to 10 s.
    async fn on_element(&self, css: &str, method: reqwest::Method, action: &str, body: Option<Value>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let id = self.find(css).await;
            let url = format!("{}/session/{}/element/{id}{action}", self.base, self.session);
            let mut req = self.http.request(method.clone(), url);
            if method == reqwest::Method::POST {
                req = req.json(&body.clone().unwrap_or_else(|| json!({})));
            }
            let r = req.send().await.expect("webdriver request");
            let status = r.status();
            let v: Value = r.json().await.expect("webdriver json");
            if status.is_success() {
                return v["value"].clone();
            }
            let stale = v["value"]["error"] == "stale element reference";
            assert!(stale && Instant::now() < deadline, "webdriver {method} {css}{action}: {status} {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        self.on_element(css, reqwest::Method::POST, "/click", None).await;
    }

    pub async fn clear(&self, css: &str) {
        self.on_element(css, reqwest::Method::POST, "/clear", None).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        self.on_element(css, reqwest::Method::POST, "/value", Some(json!({"text": text}))).await;
    }

    pub async fn text(&self, css: &str) -> String {
        self.on_element(css, reqwest::Method::GET, "/text", None).await.as_str().unwrap_or("").to_string()
    }

    pub async fn value(&self, css: &str) -> String {
        self.on_element(css, reqwest::Method::GET, "/property/value", None).await.as_str().unwrap_or("").to_string()
    }

    pub async fn script(&self, script: &str) -> Value {
        self.s(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// The text of `css` now, or `None` (no such element yet, or the page is changing).
    pub async fn try_text(&self, css: &str) -> Option<String> {
        let base = format!("{}/session/{}", self.base, self.session);
        let r = self
            .http
            .post(format!("{base}/element"))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .ok()?;
        let v: Value = r.json().await.ok()?;
        let id = v["value"][ELEMENT].as_str()?.to_string();
        let r = self.http.get(format!("{base}/element/{id}/text")).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().await.ok()?;
        v["value"].as_str().map(String::from)
    }

    /// Waits until the text of `css` contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str, timeout: Duration) -> String {
        // The whole suite shares two cores with the browser: give pages room under load.
        let deadline = Instant::now() + timeout * 4;
        loop {
            let t = self.try_text(css).await.unwrap_or_default();
            if t.contains(needle) {
                return t;
            }
            assert!(Instant::now() < deadline, "{css:?} never contained {needle:?}; last text: {t}");
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let b64 = self.s(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap()
    }

    pub async fn quit(mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    /// Also on a failed assertion: end the browser session (Chromium would outlive its driver).
    fn drop(&mut self) {
        use std::io::{Read, Write};
        if let Ok(mut c) = std::net::TcpStream::connect(self.base.trim_start_matches("http://")) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let req =
                format!("DELETE /session/{} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", self.session);
            let _ = c.write_all(req.as_bytes());
            let _ = c.read(&mut [0u8; 512]);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
