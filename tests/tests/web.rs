//! The partners' web page in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver): on a three-node loopback partnership a
//! partner opens node A's page, opens their keystore (a wrong passphrase first), votes,
//! and the vote shows on node C's page; a node that alters the bytes it prepares is caught
//! by the page before anything is signed; the page asks no host but its node.
//!
//! Screenshots of the pages are written to `target/screenshots/` (not committed).
//!
//! One concept, the page as partners use it, so one file over the usual length: the
//! browser's driver (`Browser`) first, then one test per journey through the page.

use fantoccini::{Client, ClientBuilder, Locator};
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::id::EventId;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use mutual_tests::{
    http_get, partner_key, quick_deed, serve_api, serve_api_with, wait_for, workspace_root,
};
use mutual_tests::{Cluster, Founding, Transport};
use sha2::Digest;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
const PASSPHRASE: &str = "a long passphrase";
const BASE: usize = 120;

/// Most times a step finds its element again after the page redrew it.
const RETRIES: usize = 20;

/// What a step acts on: the element a CSS selector finds, the button with this text, or
/// the form control with this label.
#[derive(Debug)]
enum Target<'a> {
    Css(&'a str),
    Button(&'a str),
    Label(&'a str),
}

/// What a step does to it.
#[derive(Debug, Clone, Copy)]
enum Do<'a> {
    Click,
    Type(&'a str),
    Replace(&'a str),
    Pick(&'a str),
}

/// A ChromeDriver process and one headless Chromium session, both ended on drop (the
/// federation tests read their page with it too).
pub(crate) struct Browser {
    driver: Child,
    client: Option<Client>,
    _profile: tempfile::TempDir,
}

/// ChromeDriver's read of a session's log of one type (`POST /session/{id}/se/log`):
/// the entries logged since the last read.
#[derive(Debug)]
struct ReadLog(&'static str);

impl fantoccini::wd::WebDriverCompatibleCommand for ReadLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "type": self.0 }).to_string();
        (http::Method::POST, Some(body))
    }
}

impl Browser {
    pub(crate) async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver runs (Debian's chromium and chromium-driver packages, installed \
                 by the README's setup command and by .ci/run)",
            );
        let profile = tempfile::TempDir::new().expect("profile dir");
        let downloads = profile.path().join("downloads");
        let caps = serde_json::json!({
            // The browser's network log: every request any page makes, as Chromium's
            // DevTools protocol reports it.
            "goog:loggingPrefs": { "performance": "ALL" },
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1100,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let caps = caps.as_object().expect("an object").clone();
        let url = format!("http://127.0.0.1:{port}");
        let mut client = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let mut builder = ClientBuilder::new(connector);
            builder.capabilities(caps.clone());
            match tokio::time::timeout(LIMIT, builder.connect(&url)).await {
                Ok(Ok(c)) => {
                    client = Some(c);
                    break;
                }
                Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(_) => break,
            }
        }
        let b = Browser {
            driver,
            client: Some(client.expect("a Chromium session through chromedriver")),
            _profile: profile,
        };
        // Chromium opens its own start page before any test's page: left for a blank
        // one, and its requests read off the log, which then holds only the pages'.
        b.c().goto("about:blank").await.expect("a blank page");
        b.requests().await;
        b
    }

    /// Where the browser saves what the page offers for download.
    fn downloads(&self) -> PathBuf {
        self._profile.path().join("downloads")
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("open")
    }

    /// Opens `route` afresh: by way of another view, so that it is drawn anew whatever
    /// the page was showing (the keystore stays open: the page is not reloaded).
    async fn fresh(&self, addr: SocketAddr, route: &str) {
        self.goto(addr, "node").await;
        self.wait_text("State hash").await;
        self.goto(addr, route).await;
    }

    pub(crate) async fn goto(&self, addr: SocketAddr, route: &str) {
        self.c()
            .goto(&format!("http://{addr}/#/{route}"))
            .await
            .expect("goto");
    }

    /// Waits until the page's text contains `text`; returns the text.
    pub(crate) async fn wait_text(&self, text: &str) -> String {
        let last = std::sync::Mutex::new(String::new());
        let found = wait_for(LIMIT, || {
            let c = self.c().clone();
            let last = &last;
            async move {
                let read = async {
                    match c.find(Locator::Css("body")).await {
                        Ok(b) => b.text().await.unwrap_or_default(),
                        Err(_) => String::new(),
                    }
                };
                let now = tokio::time::timeout(Duration::from_secs(10), read)
                    .await
                    .unwrap_or_default();
                let seen = now.contains(text);
                *last.lock().expect("lock") = now;
                seen
            }
        })
        .await;
        let last = last.into_inner().expect("lock");
        assert!(found, "the page never said {text:?}; it says:\n{last}");
        last
    }

    /// Finds `target` and does `what` to it, within [`LIMIT`]. A live update may redraw the
    /// view between finding an element and acting on it: then it is found again, at most
    /// [`RETRIES`] times.
    async fn on(&self, target: Target<'_>, what: Do<'_>) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        let mut last = None;
        for _ in 0..RETRIES {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let done = match self.find_once(&target, left).await {
                Ok(el) => match what {
                    Do::Click => el.click().await.map(|_| ()),
                    Do::Type(text) => el.send_keys(text).await,
                    Do::Replace(text) => {
                        let _ = el.clear().await;
                        el.send_keys(text).await
                    }
                    Do::Pick(value) => el.select_by_value(value).await.map(|_| ()),
                },
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("could not {what:?} {target:?}: {last:?}");
    }

    /// `target` once, waiting at most `wait` for it to appear.
    async fn find_once(
        &self,
        target: &Target<'_>,
        wait: Duration,
    ) -> Result<fantoccini::elements::Element, fantoccini::error::CmdError> {
        let at = |locator| self.c().wait().at_most(wait).for_element(locator);
        match target {
            Target::Css(css) => at(Locator::Css(css)).await,
            Target::Button(text) => {
                at(Locator::XPath(&format!(
                    "//main//button[contains(., '{text}')]"
                )))
                .await
            }
            Target::Label(label) => {
                let xpath = format!("//main//label[normalize-space(.)=\"{label}\"]");
                let l = at(Locator::XPath(&xpath)).await?;
                let id = l.attr("for").await?.unwrap_or_default();
                self.c().find(Locator::Id(&id)).await
            }
        }
    }

    async fn click(&self, css: &str) {
        self.on(Target::Css(css), Do::Click).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.on(Target::Css(css), Do::Replace(text)).await;
    }

    /// Clicks the button whose text contains `text`.
    async fn click_button(&self, text: &str) {
        self.on(Target::Button(text), Do::Click).await;
    }

    /// Confirms the signing dialog once it shows, and waits for the node's answer.
    async fn sign(&self) {
        self.wait_text("Check what you are signing").await;
        self.click("#confirm-sign").await;
        self.wait_text("Signed and sent").await;
    }

    /// Types `text` into the control labelled `label`.
    async fn fill(&self, label: &str, text: &str) {
        self.on(Target::Label(label), Do::Type(text)).await;
    }

    /// Chooses `value` in the select labelled `label`.
    async fn pick(&self, label: &str, value: &str) {
        self.on(Target::Label(label), Do::Pick(value)).await;
    }

    /// The cells of the table captioned `caption`, a row at a time, its heads first.
    pub(crate) async fn table(&self, caption: &str) -> Vec<Vec<String>> {
        let v = self
            .c()
            .execute(
                "const t = [...document.querySelectorAll('main table')]
                   .find(t => t.caption && t.caption.textContent === arguments[0]);
                 return t ? [...t.rows].map(r => [...r.cells].map(c => c.textContent)) : [];",
                vec![serde_json::json!(caption)],
            )
            .await
            .expect("script");
        serde_json::from_value(v).expect("rows of cells")
    }

    /// The value shown beside `label` in the signing dialog.
    async fn confirm_row(&self, label: &str) -> String {
        let v = self
            .c()
            .execute(
                "const dts = [...document.querySelectorAll('#confirm-what dt')];
                 const dt = dts.find(d => d.textContent === arguments[0]);
                 return dt ? dt.nextElementSibling.textContent : null;",
                vec![serde_json::json!(label)],
            )
            .await
            .expect("script");
        v.as_str().unwrap_or_default().to_string()
    }

    /// Checks every URL the browser asked for since the last check is one of `nodes`'.
    pub(crate) async fn asked_only(&self, nodes: &[SocketAddr]) {
        let asked = self.requests().await;
        assert!(!asked.is_empty());
        for url in &asked {
            assert!(
                nodes
                    .iter()
                    .any(|n| url.starts_with(&format!("http://{n}/"))),
                "the page asked {url}, not its node"
            );
        }
    }

    pub(crate) async fn screenshot(&self, name: &str) {
        let dir = workspace_root().join("target").join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let png = self.c().screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// Every URL the browser has asked for since the last call, pages and what they
    /// fetched alike (documents, scripts, styles, fetches, the live stream), from its
    /// network log (`Network.requestWillBeSent`).
    async fn requests(&self) -> Vec<String> {
        let log = self
            .c()
            .issue_cmd(ReadLog("performance"))
            .await
            .expect("the browser's performance log");
        let entries = log.as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .filter_map(|e| {
                let m: serde_json::Value = serde_json::from_str(e["message"].as_str()?).ok()?;
                let m = &m["message"];
                (m["method"] == "Network.requestWillBeSent")
                    .then(|| m["params"]["request"]["url"].as_str().map(String::from))
                    .flatten()
            })
            .filter(|url| url != "about:blank")
            .collect()
    }

    /// A browser on the page of `addr` with partner `partner`'s keystore open (written to
    /// the directory returned, which lives as long as it is kept).
    async fn signed_in(addr: SocketAddr, partner: usize) -> (Browser, tempfile::TempDir) {
        let keys = tempfile::TempDir::new().expect("dir");
        let file = keystore(keys.path(), partner);
        let b = Browser::start().await;
        b.open_keystore(addr, &file, PASSPHRASE).await;
        b.wait_text("Opened").await;
        (b, keys)
    }

    /// Opens the keystore at `file` on the page of `addr` with `passphrase`.
    async fn open_keystore(&self, addr: SocketAddr, file: &Path, passphrase: &str) {
        self.open_keystore_with(addr, file, passphrase, false).await;
    }

    /// As [`Browser::open_keystore`]; with `remember`, the browser keeps the file.
    async fn open_keystore_with(
        &self,
        addr: SocketAddr,
        file: &Path,
        passphrase: &str,
        remember: bool,
    ) {
        self.goto(addr, "key").await;
        let input = self
            .c()
            .wait()
            .at_most(LIMIT)
            .for_element(Locator::Css("input[type=file]"))
            .await
            .expect("file input");
        input
            .send_keys(&file.display().to_string())
            .await
            .expect("file chosen");
        self.type_into("input[autocomplete=current-password]", passphrase)
            .await;
        if remember {
            self.click("form[aria-labelledby=open-title] input[type=checkbox]")
                .await;
        }
        self.click("form[aria-labelledby=open-title] button[type=submit]")
            .await;
    }
}

impl Browser {
    /// Ends the Chromium session, then the driver.
    pub(crate) async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
        }
    }
}

impl Drop for Browser {
    /// Kills the driver's process group, Chromium with it, however the test ended.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.driver.id())])
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A keystore of `partner`'s key sealed with [`PASSPHRASE`], written to `dir`.
fn keystore(dir: &Path, partner: usize) -> PathBuf {
    let bytes =
        mutual_node::keystore::seal(&partner_key(partner), PASSPHRASE).expect("sealed keystore");
    let path = dir.join(format!("partner-{partner}.keystore"));
    std::fs::write(&path, bytes).expect("keystore written");
    path
}

async fn cluster(base: usize) -> Cluster {
    Cluster::found_with(
        Founding {
            name: "Web Partnership".into(),
            base,
            practices: 3,
            running: 3,
            partners: 3,
            deed: quick_deed(5000),
            spread: false,
        },
        Transport::Tcp,
    )
    .await
}

async fn propose(c: &Cluster, title: &str) -> EventId {
    c.sign_as(
        &partner_key(c.base + 1),
        Body::Motion(pb::Motion {
            kind: pb::DecisionKind::General as i32,
            title: title.into(),
            text: "Open on Saturdays from March.".into(),
            opens_at_ms: c.now_ms(),
            closes_at_ms: c.now_ms() + 30 * 60_000,
            ..Default::default()
        }),
    )
    .await
}

/// The ballots counted on `node` for `motion`, as (partner name, vote).
async fn ballots(c: &Cluster, node: usize, motion: EventId) -> usize {
    c.node(node)
        .query(move |r| {
            r.state()
                .governance()
                .motion(&motion)
                .map(|m| m.seen.ballots.len())
                .unwrap_or(0)
        })
        .await
        .expect("query")
}

async fn events(c: &Cluster, node: usize) -> usize {
    c.node(node).status().await.expect("status").events
}

/// How many events partner `partner`'s key has signed, as node `node` holds them.
async fn signed_by(c: &Cluster, node: usize, partner: usize) -> u64 {
    let key = partner_key(partner).public();
    c.node(node)
        .query(move |r| r.feed_head(&key).map_or(0, |(seq, _)| seq))
        .await
        .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_votes_from_node_a_page_and_the_vote_shows_on_node_c_page() {
    let c = cluster(BASE).await;
    assert!(c.converge(&[0, 1, 2], LIMIT).await, "the nodes converge");
    let motion = propose(&c, "Extended hours").await;
    let a = serve_api(&c, 0, "token-a").await;
    let cc = serve_api(&c, 2, "token-c").await;
    let keys = tempfile::TempDir::new().expect("dir");
    let file = keystore(keys.path(), BASE);
    assert!(
        wait_for(LIMIT, || async {
            ballots(&c, 2, motion).await == 0 && events(&c, 2).await == events(&c, 0).await
        })
        .await,
        "node C holds the motion"
    );

    let b = Browser::start().await;
    b.goto(a, "motions").await;
    b.wait_text("Extended hours").await;
    b.screenshot("motions").await;

    // A wrong passphrase is refused with a message, and nothing is signed.
    b.open_keystore(a, &file, "not the passphrase").await;
    b.wait_text("Wrong passphrase").await;
    b.goto(a, &format!("motion/{motion}")).await;
    b.wait_text("No keystore open").await;
    b.click("form[aria-label=Vote] input[value=for]").await;
    b.click("form[aria-label=Vote] button[type=submit]").await;
    b.wait_text("Open your keystore first").await;
    assert_eq!(signed_by(&c, 0, BASE).await, 0, "nothing was signed");

    // The right one opens it; the partner votes for, after reading what is signed.
    b.open_keystore(a, &file, PASSPHRASE).await;
    b.wait_text("Opened").await;
    b.screenshot("key").await;
    b.goto(a, &format!("motion/{motion}")).await;
    b.wait_text("Your ballot").await;
    // A live update that began drawing the view before the partner chose gives way to
    // the choice: the view is not replaced under the partner's hand.
    let kept = b
        .c()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             import('/web/app.js').then(async (app) => {
               const drawing = app.render({ live: true });
               const radio = document.querySelector('form[aria-label=Vote] input[value=for]');
               radio.focus();
               radio.click();
               await drawing;
               const now = document.querySelector('form[aria-label=Vote] input[value=for]');
               done([now === radio, now.checked, !!document.getElementById('show-new')]);
             });",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        kept,
        serde_json::json!([true, true, true]),
        "the choice stays"
    );
    b.click("form[aria-label=Vote] input[value=for]").await;
    b.click("form[aria-label=Vote] button[type=submit]").await;
    b.wait_text("Check what you are signing").await;
    assert_eq!(
        b.confirm_row("Your ballot").await,
        "vote for",
        "the decoded ballot"
    );
    assert_eq!(b.confirm_row("Event number").await, "1 in your feed");
    b.screenshot("confirm").await;
    b.sign().await;
    assert!(
        wait_for(LIMIT, || async { ballots(&c, 2, motion).await == 1 }).await,
        "the vote reaches node C"
    );

    // The page shows the partner their ballot, and they change it to against: the new
    // ballot replaces the first.
    b.wait_text("Your ballot counts: for").await;
    b.click("form[aria-label=Vote] input[value=against]").await;
    b.click_button("Prepare my changed vote").await;
    b.wait_text("Check what you are signing").await;
    assert_eq!(b.confirm_row("Your ballot").await, "vote against");
    assert_eq!(b.confirm_row("Event number").await, "2 in your feed");
    b.sign().await;
    b.wait_text("Your ballot counts: against").await;
    let key = partner_key(BASE).public();
    let changed = wait_for(LIMIT, || async {
        c.node(2)
            .query(move |r| {
                let m = r.state().membership();
                let id = m.holder(&key).and_then(|h| match h {
                    mutual_protocol::membership::Holder::Partner(id) => Some(*id),
                    _ => None,
                });
                r.state()
                    .governance()
                    .motion(&motion)
                    .zip(id)
                    .and_then(|(m, id)| m.seen.ballots.get(&id).map(|(_, v)| v.clone()))
                    == Some(mutual_protocol::governance::tally::Vote::Against)
            })
            .await
            .expect("query")
    })
    .await;
    assert!(changed, "node C counts the changed ballot alone");
    // A blank page ends node A's; every request until then went to node A.
    b.c().goto("about:blank").await.expect("a blank page");
    b.asked_only(&[a]).await;

    // What the peers say they hold reaches node C's status and its live stream.
    let told = wait_for(LIMIT, || async {
        let s = c.node(2).status().await.expect("status");
        s.peers_hold == s.events as u64
    })
    .await;
    assert!(told, "node C knows how many events its peers hold");
    let (status, live) = ask(cc, "GET", "/live").await;
    assert_eq!(status, 200);
    assert!(live.contains("\"peers_hold\":"), "{live}");

    // Node C's page shows it; and, left open, shows another partner's ballot when it
    // arrives, by the node's live stream.
    b.goto(cc, &format!("motion/{motion}")).await;
    let page = b.wait_text(&format!("Dr Partner {BASE}")).await;
    assert!(page.contains("Ballots that count"), "{page}");
    assert!(page.contains("What the deed says"), "{page}");
    let counted = b.table("Ballots that count").await;
    let against = vec![format!("Dr Partner {BASE}"), "against".to_string()];
    assert_eq!(counted[1..], *std::slice::from_ref(&against), "{counted:?}");
    c.sign_as(
        &partner_key(BASE + 2),
        Body::Ballot(pb::Ballot {
            motion: motion.as_bytes().to_vec(),
            choice: pb::Choice::For as i32,
            ..Default::default()
        }),
    )
    .await;
    let for_ = vec![format!("Dr Partner {}", BASE + 2), "for".to_string()];
    let shown = wait_for(LIMIT, || async {
        let rows = b.table("Ballots that count").await;
        rows.len() == 3 && rows.contains(&for_) && rows.contains(&against)
    })
    .await;
    assert!(
        shown,
        "the open page shows the new ballot without being reloaded"
    );
    b.screenshot("motion").await;
    for route in ["members", "deed", "federations", "log", "node", "aid"] {
        b.goto(cc, route).await;
        b.wait_text(match route {
            "members" => "Practice",
            "deed" => "Who decides what",
            "federations" => "belongs to no federation",
            "log" => "The signed log",
            "node" => "State hash",
            _ => "Mutual aid",
        })
        .await;
        b.screenshot(route).await;
    }

    // The log is searched whole, on the node: three ballots, and nothing else.
    b.goto(cc, "log").await;
    b.fill("Search for", "ballot").await;
    b.click_button("Search").await;
    b.wait_text("Events matching “ballot” 1 to 3").await;
    let rows = b
        .table("Events matching “ballot” 1 to 3, in the order every node folds them")
        .await;
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows[1..].iter().all(|r| r[2] == "ballot"), "{rows:?}");
    b.screenshot("search").await;

    // A node behind its peers says how far, with a bar: what a peer said it holds, and
    // what waits for its causes.
    let line = b
        .c()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             import('/web/app.js').then((app) => {
               app.showLive({ events: 40, pending: 10, federation_events: 0, peers_hold: 100 });
               const bar = document.querySelector('#live progress');
               done([document.getElementById('live').textContent, bar.value, bar.max]);
             });",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        line,
        serde_json::json!([
            "40 events held. Catching up: a peer says it holds 100, 60 more; 10 wait for their causes. ",
            40,
            100
        ])
    );

    // Every request since went to node C, nowhere else.
    b.asked_only(&[cc]).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_alters_the_prepared_bytes_is_caught_before_signing() {
    let c = cluster(BASE + 10).await;
    let motion = propose(&c, "Shared phlebotomy").await;
    let bad = serve_api_with(&c, 1, "token-b", true).await;
    let keys = tempfile::TempDir::new().expect("dir");
    let file = keystore(keys.path(), BASE + 10);
    assert!(
        wait_for(LIMIT, || async {
            events(&c, 1).await == events(&c, 0).await
        })
        .await,
        "node B holds the motion"
    );
    let b = Browser::start().await;
    b.open_keystore(bad, &file, PASSPHRASE).await;
    b.wait_text("Opened").await;
    b.goto(bad, &format!("motion/{motion}")).await;
    b.wait_text("Your ballot").await;
    b.click("form[aria-label=Vote] input[value=for]").await;
    b.click("form[aria-label=Vote] button[type=submit]").await;
    let page = b.wait_text("do not say what you chose").await;
    assert!(page.contains("Nothing was signed"), "{page}");
    let asked_to_sign = b
        .c()
        .execute("return document.getElementById('confirm').open;", vec![])
        .await
        .expect("script");
    assert_eq!(
        asked_to_sign,
        serde_json::json!(false),
        "the partner is never asked to sign"
    );
    b.screenshot("tampered").await;

    // So is a motion whose voting period the node lengthened.
    b.goto(bad, "motions").await;
    b.wait_text("Propose a motion").await;
    b.fill("Title", "Buy a new ECG").await;
    b.click("form[aria-labelledby=propose-title] button[type=submit]")
        .await;
    let page = b
        .wait_text("the motion differs from the one you chose")
        .await;
    assert!(page.contains("Nothing was signed"), "{page}");

    // The page's decoder takes an event only in its one canonical encoding: the same
    // body given twice (which a decoder may merge), or fields out of order, are refused.
    let verdicts = b
        .c()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             import('/web/wire.js').then((w) => {
               const body = w.encodeBallot({ motion: new Uint8Array(32).fill(7), choice: 1 });
               const head = new w.Writer().bytes(2, new Uint8Array(32).fill(1)).uint(3, 1).uint(6, 5);
               const event = head.always(24, body).finish();
               const twice = w.concat(event, new w.Writer().always(24, body).finish());
               const reordered = w.concat(new w.Writer().uint(6, 5).finish(),
                 new w.Writer().bytes(2, new Uint8Array(32).fill(1)).uint(3, 1).always(24, body).finish());
               const takes = (bytes) => { try { w.decodeEvent(bytes); return true; } catch { return false; } };
               done([takes(event), takes(twice), takes(reordered)]);
             });",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(verdicts, serde_json::json!([true, false, false]));

    // The page also keeps the last event it signed with the key: a node offering a place
    // in the feed at or before it (one that has not seen that event) is refused, since
    // signing there would fork the partner's feed. Here the record says number 5.
    let good = serve_api(&c, 0, "token-a").await;
    b.open_keystore(good, &file, PASSPHRASE).await;
    b.wait_text("Opened").await;
    let network = c.network().to_string();
    let key = partner_key(BASE + 10).public().to_string();
    b.c()
        .execute(
            "localStorage.setItem(`mutual.last.${arguments[0]}.${arguments[1]}`, \
             JSON.stringify({ seq: 5, id: '00'.repeat(32) }));",
            vec![serde_json::json!(network), serde_json::json!(key)],
        )
        .await
        .expect("script");
    b.goto(good, &format!("motion/{motion}")).await;
    b.wait_text("Your ballot").await;
    b.click("form[aria-label=Vote] input[value=for]").await;
    b.click("form[aria-label=Vote] button[type=submit]").await;
    b.wait_text("would fork your feed").await;
    b.close().await;
    for node in [0, 1] {
        assert_eq!(
            signed_by(&c, node, BASE + 10).await,
            0,
            "nothing was signed or sent"
        );
    }
    assert_eq!(ballots(&c, 1, motion).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranked_ballot_from_the_page_counts_and_the_rounds_show_after_the_close() {
    const VOTING_MS: u64 = 2 * 60_000;
    let base = BASE + 20;
    let mut c = cluster(base).await;
    assert!(c.converge(&[0, 1, 2], LIMIT).await, "the nodes converge");
    let candidates: Vec<Vec<u8>> = (0..3)
        .map(|j| partner_key(base + j).public().as_bytes().to_vec())
        .collect();
    let motion = c
        .sign_as(
            &partner_key(base + 1),
            Body::Motion(pb::Motion {
                kind: pb::DecisionKind::ElectChair as i32,
                title: "Chair for 2027".into(),
                opens_at_ms: c.now_ms(),
                closes_at_ms: c.now_ms() + VOTING_MS,
                candidates: candidates.clone(),
                ..Default::default()
            }),
        )
        .await;
    let a = serve_api(&c, 0, "token-a").await;
    let (b, _keys) = Browser::signed_in(a, base).await;

    // Partner `base` ranks the third candidate first and the second next, by number.
    b.goto(a, &format!("motion/{motion}")).await;
    b.wait_text("Number the candidates").await;
    let ranks = b
        .c()
        .find_all(Locator::Css(
            "form[aria-label='Ranked ballot'] input[type=number]",
        ))
        .await
        .expect("rank inputs");
    assert_eq!(ranks.len(), 3, "one input per candidate");
    ranks[1].send_keys("2").await.expect("typed");
    ranks[2].send_keys("1").await.expect("typed");
    b.click("form[aria-label='Ranked ballot'] button[type=submit]")
        .await;
    b.wait_text("Check what you are signing").await;
    let order = format!("rank Dr Partner {}, then Dr Partner {}", base + 2, base + 1);
    assert_eq!(
        b.confirm_row("Your ballot").await,
        order,
        "the decoded ranking"
    );
    b.sign().await;

    // A second partner ranks too (quorum), from the command line's path.
    c.sign_as(
        &partner_key(base + 1),
        Body::Ballot(pb::Ballot {
            motion: motion.as_bytes().to_vec(),
            ranking: vec![candidates[2].clone(), candidates[0].clone()],
            ..Default::default()
        }),
    )
    .await;
    let witnessed = wait_for(LIMIT, || async {
        c.node(2)
            .query(move |r| {
                r.state()
                    .governance()
                    .motion(&motion)
                    .is_some_and(|m| m.seen.ballots.len() == 2 && m.unwitnessed.is_empty())
            })
            .await
            .expect("query")
    })
    .await;
    assert!(witnessed, "both ballots are witnessed");

    // The vote and its grace period pass; the nodes close the election by themselves.
    c.advance((VOTING_MS + MAX_CLOCK_SKEW_MS + 60_000) as i64)
        .await;
    let closed = wait_for(LIMIT, || async {
        c.node(2)
            .query(move |r| {
                r.state()
                    .governance()
                    .motion(&motion)
                    .is_some_and(|m| m.closed.is_some())
            })
            .await
            .expect("query")
    })
    .await;
    assert!(closed, "the election closes");
    let cc = serve_api(&c, 2, "token-c").await;
    b.goto(cc, &format!("motion/{motion}")).await;
    let page = b.wait_text("The count, round by round").await;
    assert!(
        page.contains(&format!("Elected: Dr Partner {}", base + 2)),
        "{page}"
    );
    // The members page names the new chair among the partner's offices.
    b.goto(cc, "members").await;
    b.wait_text("Offices").await;
    let chair = wait_for(LIMIT, || async {
        let page = b.c().find(Locator::Css("main")).await;
        let text = match page {
            Ok(m) => m.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.lines()
            .any(|l| l.starts_with(&format!("Dr Partner {}", base + 2)) && l.contains("chair"))
    })
    .await;
    assert!(chair, "the members page shows the chair");
    b.goto(cc, &format!("motion/{motion}")).await;
    let page = b.wait_text("The count, round by round").await;

    // The count as a table: a column per candidate, a row per round; and as bars.
    let rows = b.table("The count, round by round").await;
    let names: Vec<String> = (0..3).map(|j| format!("Dr Partner {}", base + j)).collect();
    let mut heads = vec!["Round".to_string()];
    heads.extend(names.iter().cloned());
    heads.extend(["Exhausted".to_string(), "What happened".to_string()]);
    assert_eq!(rows[0], heads, "{rows:?}");
    assert_eq!(rows[1][..5], ["1", "0", "0", "2", "0"], "{rows:?}");
    assert!(
        rows[1][5].starts_with(&format!("{} elected", names[2])),
        "{rows:?}"
    );
    assert!(
        page.contains("Votes of each candidate, round by round"),
        "{page}"
    );
    assert!(page.contains(&format!("{}: 2", names[2])), "{page}");
    b.screenshot("election").await;
    b.close().await;
}

/// One request over plain HTTP/1.1: the status and up to the first 4 KB of the answer
/// (a stream such as `/live` is cut there).
async fn ask(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = if method == "GET" { "" } else { "{}" };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < 4096 {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: not an HTTP answer: {text:?}"));
    (status, text)
}

/// The whole API's OpenAPI document, served at `/openapi.json`, is a valid OpenAPI 3.1
/// document; the router serves every operation it lists, and it lists every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_and_lists_every_route() {
    let c = Cluster::found(1, Transport::Tcp).await;
    let addr = serve_api(&c, 0, "token").await;
    let (head, doc) = http_get(addr, "/openapi.json").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let spec = oas3::from_json(&doc).expect("a valid OpenAPI 3.1 document");
    assert!(spec.openapi.starts_with("3.1"), "{}", spec.openapi);
    let paths = spec.paths.as_ref().expect("paths");

    // Every operation it lists is served: the router's fallback ("no route") never
    // answers, and no method is refused (405).
    let mut operations = 0;
    for (path, item) in paths {
        for (method, op) in item.methods() {
            operations += 1;
            assert!(op.responses.is_some(), "{method} {path} lists its answers");
            let concrete = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "0000" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let (status, text) = ask(addr, method.as_str(), &concrete).await;
            assert_ne!(status, 405, "{method} {path} is not routed: {text}");
            assert!(
                !text.contains("no route"),
                "{method} {path} is not routed: {text}"
            );
        }
    }
    let (status, text) = ask(addr, "GET", "/no/such/route").await;
    assert_eq!(status, 404);
    assert!(text.contains("no route"), "{text}");

    // And it lists every route: the router is built only from the handlers'
    // `#[utoipa::path]` descriptions (no bare `.route(`), each handler once.
    let mut described = 0;
    let mut dirs = vec![workspace_root().join("node/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("source dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let src = std::fs::read_to_string(&path).expect("source");
            for bypass in [".route(\"", ".route_service(", ".nest(\"", ".nest_service("] {
                assert!(
                    !src.contains(bypass),
                    "{} serves a route ({bypass}) the OpenAPI document would not list",
                    path.display()
                );
            }
            described += src.matches("#[utoipa::path(").count();
        }
    }
    assert_eq!(
        operations, described,
        "every described handler is an operation of the document"
    );
}

/// `GET /events?q=` searches the whole log on the node, past any page, and refuses a
/// search text over its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_searched_whole_on_the_node() {
    use mutual_node::api::events::MAX_SEARCH_BYTES;
    let c = Cluster::found(1, Transport::Tcp).await;
    for n in 0..5 {
        c.sign_as(&mutual_tests::node_key(0), mutual_tests::update(7_000 + n))
            .await;
    }
    let addr = serve_api(&c, 0, "token").await;
    let list = |path: String| async move {
        let (status, text) = ask(addr, "GET", &path).await;
        assert_eq!(status, 200, "{path}: {text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap_or(&text).to_string();
        serde_json::from_str::<Vec<serde_json::Value>>(&body).expect("a list of events")
    };
    let updates = list("/events?q=PRACTICE_update".into()).await;
    assert_eq!(updates.len(), 5, "{updates:?}");
    assert!(updates.iter().all(|e| e["kind"] == "practice_update"));
    // A kind as the page shows it, with a space.
    assert_eq!(list("/events?q=practice%20update".into()).await.len(), 5);
    // Past a page: the search runs over the whole log, then pages.
    let later = list("/events?q=practice_update&skip=3&limit=1".into()).await;
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["id"], updates[3]["id"]);
    // By a short id, and by who signed.
    let id = updates[2]["id"].as_str().expect("an id")[..10].to_string();
    let by_id = list(format!("/events?q={id}")).await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0]["id"], updates[2]["id"]);
    assert_eq!(list("/events?q=genesis".into()).await.len(), 1);
    assert!(list("/events?q=no%20such%20thing".into()).await.is_empty());
    // The longest search text is taken; one byte more is refused.
    let at = "a".repeat(MAX_SEARCH_BYTES);
    assert_eq!(ask(addr, "GET", &format!("/events?q={at}")).await.0, 200);
    let (status, text) = ask(addr, "GET", &format!("/events?q={at}a")).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("at most 200 bytes"), "{text}");
}

/// An aid request is made from one practice's partner's browser, offered on from
/// another's, accepted, and countersigned: a binding agreement on every node, which the
/// requester then records fulfilled. A second agreement is cancelled with a reason before
/// it binds, and a third request is withdrawn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aid_is_asked_offered_accepted_countersigned_fulfilled_cancelled_and_withdrawn_from_two_browsers(
) {
    let base = BASE + 30;
    let c = Cluster::found_with(
        Founding {
            name: "Web Aid Partnership".into(),
            base,
            practices: 3,
            running: 3,
            partners: 3,
            deed: pb::Deed {
                // Partners sign their practice's aid events (docs/AID.md §3.1).
                aid_signers: pb::AidSigners::Partners as i32,
                ..quick_deed(5000)
            },
            spread: true,
        },
        Transport::Tcp,
    )
    .await;
    assert!(c.converge(&[0, 1, 2], LIMIT).await, "the nodes converge");
    let a = serve_api(&c, 0, "token-a").await;
    let bb = serve_api(&c, 1, "token-b").await;
    let (requester, _keys) = Browser::signed_in(a, base).await;
    let (offerer, _others) = Browser::signed_in(bb, base + 1).await;

    // Practice 0's partner asks for a GP on a day ten days on.
    let day = mutual_node::dates::date_after(c.now_ms(), 10);
    requester.goto(a, "aid").await;
    requester
        .wait_text(&format!("You act for Practice {base}"))
        .await;
    requester
        .type_into(
            "form[aria-label='Ask for help'] textarea",
            &format!("{day} AM"),
        )
        .await;
    requester
        .click("form[aria-label='Ask for help'] button[type=submit]")
        .await;
    requester.wait_text("ask the partnership for help").await;
    requester.sign().await;

    // Practice 1's partner sees it on node B's page and offers cover.
    offerer.goto(bb, "aid").await;
    offerer.click_button("Offer cover").await;
    offerer.wait_text("offer cover").await;
    offerer.sign().await;

    // The requester accepts; the offerer countersigns.
    requester.goto(a, "aid").await;
    requester.click_button("Accept").await;
    requester.sign().await;
    offerer.goto(bb, "aid").await;
    offerer.click_button("Countersign").await;
    offerer.wait_text("it becomes binding").await;
    offerer.sign().await;

    // Binding on every node, the third practice's included.
    let binding = wait_for(LIMIT, || async {
        c.node(2)
            .query(|r| {
                let aid = r.state().aid();
                aid.agreements().any(|g| g.countersign.is_some())
            })
            .await
            .expect("query")
    })
    .await;
    assert!(binding, "the agreement binds on node C");
    requester.goto(a, "aid").await;
    requester.wait_text("binding").await;
    requester.screenshot("aid").await;

    // The requester records it fulfilled.
    requester.click_button("Record as fulfilled").await;
    requester.sign().await;
    let fulfilled = wait_for(LIMIT, || async { agreements(&c).await == ["fulfilled"] }).await;
    assert!(fulfilled, "node C holds the agreement fulfilled");

    // A second request, offered on and accepted, is cancelled with a reason before the
    // offerer countersigns.
    let ask = |day: String| {
        let requester = &requester;
        async move {
            requester.fresh(a, "aid").await;
            requester
                .type_into("form[aria-label='Ask for help'] textarea", &day)
                .await;
            requester
                .click("form[aria-label='Ask for help'] button[type=submit]")
                .await;
            requester.sign().await;
        }
    };
    ask(format!(
        "{} PM",
        mutual_node::dates::date_after(c.now_ms(), 11)
    ))
    .await;
    offerer.fresh(bb, "aid").await;
    offerer.click_button("Offer cover").await;
    offerer.sign().await;
    requester.fresh(a, "aid").await;
    requester.click_button("Accept").await;
    requester.sign().await;
    requester.fresh(a, "aid").await;
    requester.click_button("Cancel…").await;
    requester.fill("Why", "Our own locum is back").await;
    requester.click_button("Prepare the cancellation").await;
    requester.sign().await;
    let cancelled = wait_for(LIMIT, || async {
        agreements(&c).await == ["cancelled", "fulfilled"]
    })
    .await;
    assert!(cancelled, "node C holds the second agreement cancelled");

    // A third request is withdrawn.
    ask(format!(
        "{} AM",
        mutual_node::dates::date_after(c.now_ms(), 12)
    ))
    .await;
    requester.fresh(a, "aid").await;
    requester.click_button("Withdraw").await;
    requester.sign().await;
    let withdrawn = wait_for(LIMIT, || async {
        c.node(2)
            .query(|r| {
                r.state()
                    .aid()
                    .requests()
                    .filter(|q| q.withdrawn.is_some())
                    .count()
            })
            .await
            .expect("query")
            == 1
    })
    .await;
    assert!(withdrawn, "node C holds the third request withdrawn");
    requester.asked_only(&[a]).await;
    offerer.asked_only(&[bb]).await;
    requester.close().await;
    offerer.close().await;
}

/// The status of every aid agreement node C of `c` holds, sorted.
async fn agreements(c: &Cluster) -> Vec<String> {
    c.node(2)
        .query(|r| {
            let mut s: Vec<String> = r
                .state()
                .aid()
                .agreements()
                .map(|g| g.status.name().to_string())
                .collect();
            s.sort();
            s
        })
        .await
        .expect("query")
}

/// A partner votes with the keyboard alone (Tab, Space, Enter: no pointer) and declares an
/// interest, shown with their name; the pages fit a phone's width, as at 200% zoom,
/// without scrolling sideways, and every control has a label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_votes_with_the_keyboard_alone_and_the_pages_fit_a_phone() {
    use fantoccini::key::Key;
    let base = BASE + 40;
    let c = cluster(base).await;
    let motion = propose(&c, "Keyboard vote").await;
    let a = serve_api(&c, 0, "token-a").await;
    let (b, _keys) = Browser::signed_in(a, base).await;
    b.goto(a, &format!("motion/{motion}")).await;
    b.wait_text("Your ballot").await;

    // Tab from the page's heading to the first choice, a bounded number of times.
    let press = |key: Key| {
        let c = b.c().clone();
        async move {
            c.active_element()
                .await
                .expect("a focused element")
                .send_keys(&String::from(char::from(key)))
                .await
                .expect("key pressed");
        }
    };
    let focused = |attr: &'static str| {
        let c = b.c().clone();
        async move {
            let el = c.active_element().await.expect("focus");
            el.attr(attr).await.expect("attr").unwrap_or_default()
        }
    };
    let mut on_choice = false;
    for _ in 0..40 {
        press(Key::Tab).await;
        if focused("value").await == "for" {
            on_choice = true;
            break;
        }
    }
    assert!(on_choice, "the choice \"for\" is reached with Tab");
    press(Key::Space).await;
    press(Key::Tab).await;
    assert_eq!(focused("type").await, "submit", "the vote's button is next");
    press(Key::Enter).await;
    b.wait_text("Check what you are signing").await;
    // The dialog starts on its heading; Tab reaches "Sign and send".
    press(Key::Tab).await;
    assert_eq!(focused("id").await, "confirm-sign");
    press(Key::Enter).await;
    b.wait_text("Signed and sent").await;
    assert!(
        wait_for(LIMIT, || async { ballots(&c, 0, motion).await == 1 }).await,
        "the vote counts"
    );

    // A phone's width (and 200% zoom of a laptop's): nothing scrolls sideways.
    b.c().set_window_size(390, 844).await.expect("resized");
    for route in [
        format!("motion/{motion}"),
        "motions".into(),
        "members".into(),
        "aid".into(),
        "log".into(),
        "key".into(),
    ] {
        b.goto(a, &route).await;
        b.wait_text("Mutual").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let overflow = b
            .c()
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(
            overflow,
            serde_json::json!(0),
            "{route} scrolls sideways on a phone"
        );
    }
    b.goto(a, &format!("motion/{motion}")).await;
    b.wait_text("Ballots that count").await;
    b.screenshot("phone").await;

    // Every control of every view has a label a screen reader reads.
    let motion_page = format!("motion/{motion}");
    for route in ["motions", "aid", "key", "log", &motion_page] {
        b.fresh(a, route).await;
        b.wait_text("Mutual").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let unlabelled = b
            .c()
            .execute(
                "return [...document.querySelectorAll('main input, main select, main textarea')]
                   .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
                   .map(e => e.outerHTML);",
                vec![],
            )
            .await
            .expect("script");
        assert_eq!(
            unlabelled,
            serde_json::json!([]),
            "{route}: controls without a label"
        );
    }

    // The partner declares an interest; the motion's page says who, and what.
    b.fresh(a, &format!("motion/{motion}")).await;
    b.fill(
        "Declare an interest (in words)",
        "My surgery would host the Saturday clinics",
    )
    .await;
    b.click_button("Prepare the declaration").await;
    b.sign().await;
    b.fresh(a, &format!("motion/{motion}")).await;
    let page = b
        .wait_text(&format!(
            "Dr Partner {base} declared an interest: My surgery would host the Saturday clinics."
        ))
        .await;
    // Under the deed the interested recuse: their vote no longer counts.
    assert!(page.contains("1 partner is recused"), "{page}");
    assert!(page.contains("No ballot counts yet"), "{page}");
    b.close().await;
}

/// A partner makes a new keystore in the page; the file it offers opens with the command
/// line's own code (node/src/keystore.rs) under the same passphrase, to the key it showed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keystore_made_in_the_page_opens_with_the_command_line() {
    let c = Cluster::found(1, Transport::Tcp).await;
    let a = serve_api(&c, 0, "token-a").await;
    let b = Browser::start().await;
    b.goto(a, "key").await;
    b.fill("New passphrase (at least 8 characters)", PASSPHRASE)
        .await;
    b.fill("The passphrase again", PASSPHRASE).await;
    b.click("form[aria-labelledby=create-title] button[type=submit]")
        .await;
    let page = b.wait_text("Made. Your key: ").await;
    let shown = page
        .split("Made. Your key: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the key shown")
        .to_string();
    // The partner saves the file, as they would.
    b.click("a[download]").await;
    let path = b.downloads().join("mutual-keystore");
    let saved = wait_for(LIMIT, || async {
        std::fs::metadata(&path)
            .is_ok_and(|m| m.len() == mutual_node::keystore::KEYSTORE_LEN as u64)
    })
    .await;
    assert!(saved, "the keystore file is saved");
    let bytes = std::fs::read(&path).expect("the saved keystore");
    let ks = mutual_node::keystore::Keystore::parse(&path, &bytes).expect("a keystore");
    assert_eq!(ks.public().to_string(), shown, "the key the page showed");
    let kp = ks.open(PASSPHRASE).expect("opens with the passphrase");
    assert_eq!(kp.public().to_string(), shown);
    assert!(ks.open("another passphrase").is_err());
    b.close().await;
}

/// Motions of other kinds are proposed from the page: admitting a partner (a new key),
/// changing a partner's role, a resolution carrying a paper, and an amendment of the deed
/// edited on the page. The node holds each, with exactly what was chosen, and the paper's
/// bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_proposes_an_admission_a_change_of_role_a_resolution_with_a_paper_and_an_amendment(
) {
    let base = BASE + 50;
    let c = cluster(base).await;
    let a = serve_api(&c, 0, "token-a").await;
    let (b, keys) = Browser::signed_in(a, base).await;
    let newcomer = partner_key(base + 9).public();

    b.goto(a, "motions").await;
    b.wait_text("Propose a motion").await;
    let form = "form[aria-labelledby=propose-title]";
    b.pick("Kind", "admit_partner").await;
    b.fill("Title", "Admit Dr Newcomer").await;
    b.fill("The partner's name", "Dr Newcomer").await;
    b.fill(
        "Their key (64 hex digits, from their keystore)",
        &newcomer.to_string(),
    )
    .await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose a motion to admit a partner").await;
    assert!(b
        .confirm_row("Admits")
        .await
        .starts_with("Dr Newcomer as a partner of"));
    b.sign().await;

    let admitted = wait_for(LIMIT, || async {
        c.node(0)
            .query(move |r| {
                r.state().governance().motions().any(|m| {
                    m.motion.kind == pb::DecisionKind::AdmitPartner as i32
                        && m.motion.admit_partner.as_ref().is_some_and(|p| {
                            p.key == newcomer.as_bytes() && p.name == "Dr Newcomer"
                        })
                })
            })
            .await
            .expect("query")
    })
    .await;
    assert!(admitted, "the node holds the admission as chosen");

    // A change of role: partner base + 1 to managing partner.
    b.fresh(a, "motions").await;
    b.wait_text("Propose a motion").await;
    b.pick("Kind", "change_role").await;
    b.fill("Title", "Dr 1 to manage").await;
    b.pick("Role", "managing").await;
    let subject = partner_key(base + 1).public();
    b.pick("Partner", &subject.to_string()).await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose a motion to change a partner's role")
        .await;
    assert_eq!(
        b.confirm_row("Concerning").await,
        format!("Dr Partner {}", base + 1)
    );
    b.sign().await;
    let changed = wait_for(LIMIT, || async {
        c.node(0)
            .query(move |r| {
                r.state().governance().motions().any(|m| {
                    m.motion.kind == pb::DecisionKind::ChangeRole as i32
                        && m.motion.subject_key == subject.as_bytes()
                        && m.motion.new_role == pb::PartnerRole::Managing as i32
                })
            })
            .await
            .expect("query")
    })
    .await;
    assert!(changed, "the node holds the change of role as chosen");

    // An ordinary resolution carrying a paper: the motion names it, and the page sends
    // its bytes to the node once the node holds the motion.
    let paper = keys.path().join("accounts-2026.txt");
    std::fs::write(&paper, b"Income 100, costs 90.\n").expect("paper written");
    b.fresh(a, "motions").await;
    b.wait_text("Propose a motion").await;
    b.fill("Title", "Adopt the 2026 accounts").await;
    let papers = format!(
        "Papers for the voters to read (at most {}, each up to 16 MB)",
        mutual_protocol::limits::MAX_PAPERS_PER_EVENT
    );
    b.fill(&papers, &paper.display().to_string()).await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose an ordinary resolution").await;
    assert!(b
        .confirm_row("Papers")
        .await
        .starts_with("accounts-2026.txt (22 bytes"));
    b.click("#confirm-sign").await;
    b.wait_text("Papers sent: accounts-2026.txt").await;
    let held = c.node(0).status().await.expect("status");
    assert_eq!(
        (held.papers_named, held.papers_held),
        (1, 1),
        "the paper is named and held"
    );

    // An amendment of the deed, edited from the deed in force: the ordinary resolution's
    // quorum to 60%.
    b.fresh(a, "motions").await;
    b.wait_text("Propose a motion").await;
    b.pick("Kind", "amend_deed").await;
    b.fill("Title", "A higher quorum for resolutions").await;
    let quorum = b
        .c()
        .find(Locator::Css("input[aria-label='general: quorum %']"))
        .await
        .expect("the general rule's quorum");
    let before = quorum
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default();
    quorum.clear().await.expect("cleared");
    quorum.send_keys("60").await.expect("typed");
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose a motion to amend the deed").await;
    assert_eq!(
        b.confirm_row("The deed's changes").await,
        format!("general, quorum: {before}% → 60%")
    );
    b.sign().await;
    let amended = c
        .node(0)
        .query(|r| {
            r.state().governance().motions().any(|m| {
                m.motion.kind == pb::DecisionKind::AmendDeed as i32
                    && m.motion.new_deed.as_ref().is_some_and(|d| {
                        d.rules.iter().any(|r| {
                            r.kind == pb::DecisionKind::General as i32
                                && r.quorum_basis_points == 6000
                        })
                    })
            })
        })
        .await
        .expect("query");
    assert!(amended, "the node holds the amendment as edited");
    b.close().await;
}

/// A keystore the browser remembers opens after a reload with the passphrase alone; the
/// partner appoints a proxy on a motion, then revokes it, each from the motion's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_keystore_appoints_a_proxy_and_revokes_it() {
    let base = BASE + 70;
    // A deed that lets a partner hold one proxy (the default deed allows none, and the
    // page then offers none).
    let mut deed = quick_deed(5000);
    deed.max_proxies_per_holder = 1;
    let c = Cluster::found_with(
        Founding {
            name: "Web Partnership".into(),
            base,
            practices: 3,
            running: 1,
            partners: 3,
            deed,
            spread: false,
        },
        Transport::Tcp,
    )
    .await;
    let motion = propose(&c, "Extended hours").await;
    let a = serve_api(&c, 0, "token-a").await;
    let keys = tempfile::TempDir::new().expect("dir");
    let file = keystore(keys.path(), base);
    let b = Browser::start().await;
    b.open_keystore_with(a, &file, PASSPHRASE, true).await;
    b.wait_text("Opened").await;

    // A reload forgets the open key, not the file: the passphrase alone opens it again.
    b.c().refresh().await.expect("reloaded");
    b.wait_text("No keystore open").await;
    b.goto(a, "key").await;
    b.wait_text("This browser remembers a keystore file").await;
    b.type_into("input[autocomplete=current-password]", PASSPHRASE)
        .await;
    b.click("form[aria-labelledby=open-title] button[type=submit]")
        .await;
    b.wait_text("Opened").await;

    // A proxy appointed, then revoked.
    let holder = partner_key(base + 2).public();
    let me = partner_key(base).public();
    b.goto(a, &format!("motion/{motion}")).await;
    b.wait_text("Your ballot").await;
    b.pick(
        "Appoint a proxy to vote for you on this motion",
        &holder.to_string(),
    )
    .await;
    b.click_button("Prepare the appointment").await;
    b.wait_text("Check what you are signing").await;
    assert_eq!(
        b.confirm_row("Your ballot").await,
        format!(
            "appoint Dr Partner {} as your proxy until the close",
            base + 2
        )
    );
    b.sign().await;
    let appointed = wait_for(LIMIT, || async {
        proxy_holder(&c, motion, me).await == Some(holder)
    })
    .await;
    assert!(appointed, "the node holds the appointment");
    b.click_button("Revoke my proxy on this motion").await;
    b.wait_text("Check what you are signing").await;
    assert_eq!(
        b.confirm_row("Your ballot").await,
        "revoke your proxy and any vote cast by it"
    );
    b.sign().await;
    let revoked = wait_for(LIMIT, || async {
        proxy_holder(&c, motion, me).await.is_none()
    })
    .await;
    assert!(revoked, "the node holds the revocation");
    b.asked_only(&[a]).await;
    b.close().await;
}

/// Whom `appointer` has appointed their proxy on `motion`, as node 0 holds it.
async fn proxy_holder(
    c: &Cluster,
    motion: EventId,
    appointer: mutual_protocol::keys::PublicKey,
) -> Option<mutual_protocol::keys::PublicKey> {
    c.node(0)
        .query(move |r| {
            r.state()
                .governance()
                .motion(&motion)
                .and_then(|m| m.seen.proxies.get(&appointer).map(|p| p.holder))
        })
        .await
        .expect("query")
}

/// Whether node 0 of `c` holds a motion for which `pred` holds.
async fn holds_motion(
    c: &Cluster,
    pred: fn(&pb::Motion, &[Vec<u8>]) -> bool,
    keys: Vec<Vec<u8>>,
) -> bool {
    wait_for(LIMIT, || {
        let keys = keys.clone();
        async move {
            c.node(0)
                .query(move |r| {
                    r.state()
                        .governance()
                        .motions()
                        .any(|m| pred(&m.motion, &keys))
                })
                .await
                .expect("query")
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_proposes_a_practice_with_first_partners_an_election_a_removal_a_new_key_and_a_link(
) {
    let base = BASE + 60;
    let c = cluster(base).await;
    let a = serve_api(&c, 0, "token-a").await;
    let (b, keys) = Browser::signed_in(a, base).await;
    let form = "form[aria-labelledby=propose-title]";
    let key = |i: usize| partner_key(i).public();
    let start = |kind: &'static str, title: &'static str| {
        let b = &b;
        async move {
            b.fresh(a, "motions").await;
            b.wait_text("Propose a motion").await;
            b.pick("Kind", kind).await;
            b.fill("Title", title).await;
        }
    };

    // A practice, with its first two partners named as the command line takes them.
    start("admit_practice", "Admit Valley Surgery").await;
    b.fill("The practice's name", "Valley Surgery").await;
    b.fill("Its ODS code", "V12345").await;
    b.fill("Its locality", "North").await;
    let node = mutual_tests::node_key(base + 7).public();
    b.fill(
        "Its node's key (64 hex digits, from its invite)",
        &node.to_string(),
    )
    .await;
    let first = format!("Dr Vale={}\nDr Dale = {}", key(base + 7), key(base + 8));
    b.fill(
        "Its first partners, one a line as NAME=KEY (optional)",
        &first,
    )
    .await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose a motion to admit a practice").await;
    assert_eq!(
        b.confirm_row("With first partners").await,
        format!(
            "Dr Vale (key {}), Dr Dale (key {})",
            &key(base + 7).to_string()[..12],
            &key(base + 8).to_string()[..12]
        )
    );
    b.sign().await;
    let want = vec![
        key(base + 7).as_bytes().to_vec(),
        key(base + 8).as_bytes().to_vec(),
    ];
    let admits = |m: &pb::Motion, keys: &[Vec<u8>]| {
        m.kind == pb::DecisionKind::AdmitPractice as i32
            && m.admit_practice
                .as_ref()
                .is_some_and(|p| p.ods_code == "V12345")
            && m.first_partners
                .iter()
                .map(|p| (p.name.as_str(), &p.key, p.practice_ods.as_str()))
                .eq([
                    ("Dr Vale", &keys[0], "V12345"),
                    ("Dr Dale", &keys[1], "V12345"),
                ])
    };
    assert!(
        holds_motion(&c, admits, want).await,
        "the admission names its first partners"
    );

    // A first partner written wrongly is refused before anything is signed.
    start("admit_practice", "Admit Hill Surgery").await;
    b.fill("The practice's name", "Hill Surgery").await;
    b.fill("Its ODS code", "H12345").await;
    b.fill(
        "Its node's key (64 hex digits, from its invite)",
        &node.to_string(),
    )
    .await;
    b.fill(
        "Its first partners, one a line as NAME=KEY (optional)",
        "Dr Hill",
    )
    .await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("write a first partner as NAME=KEY").await;

    // An election of the board: two candidates for one seat.
    start("elect_board", "Board for 2027").await;
    for i in [base, base + 1] {
        b.click(&format!("fieldset.candidates input[value='{}']", key(i)))
            .await;
    }
    b.on(
        Target::Label("Seats (0 with one seat per locality)"),
        Do::Replace("1"),
    )
    .await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose an election of the board").await;
    let mut named: Vec<String> = b
        .confirm_row("Candidates")
        .await
        .split(", ")
        .map(String::from)
        .collect();
    named.sort();
    assert_eq!(
        named,
        [
            format!("Dr Partner {base}"),
            format!("Dr Partner {}", base + 1)
        ]
    );
    b.sign().await;
    let mut want = vec![
        key(base).as_bytes().to_vec(),
        key(base + 1).as_bytes().to_vec(),
    ];
    want.sort();
    let elects = |m: &pb::Motion, keys: &[Vec<u8>]| {
        let mut candidates = m.candidates.clone();
        candidates.sort();
        m.kind == pb::DecisionKind::ElectBoard as i32 && m.seats == 1 && candidates == keys
    };
    assert!(
        holds_motion(&c, elects, want).await,
        "the election as chosen"
    );

    // The removal of a partner, and a partner's new key.
    start("remove_partner", "Remove Dr Partner 2").await;
    b.pick("Partner", &key(base + 2).to_string()).await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose a motion to remove a partner").await;
    assert_eq!(
        b.confirm_row("Concerning").await,
        format!("Dr Partner {}", base + 2)
    );
    b.sign().await;
    let removes = |m: &pb::Motion, keys: &[Vec<u8>]| {
        m.kind == pb::DecisionKind::RemovePartner as i32 && m.subject_key == keys[0]
    };
    let want = vec![key(base + 2).as_bytes().to_vec()];
    assert!(
        holds_motion(&c, removes, want).await,
        "the removal as chosen"
    );

    start("replace_key", "A new key for Dr Partner 1").await;
    b.pick("Partner", &key(base + 1).to_string()).await;
    b.fill("The new key (64 hex digits)", &key(base + 9).to_string())
        .await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose a motion to replace a partner's key")
        .await;
    b.sign().await;
    let replaces = |m: &pb::Motion, keys: &[Vec<u8>]| {
        m.kind == pb::DecisionKind::ReplaceKey as i32
            && m.subject_key == keys[0]
            && m.replacement_key == keys[1]
    };
    let want = vec![
        key(base + 1).as_bytes().to_vec(),
        key(base + 9).as_bytes().to_vec(),
    ];
    assert!(
        holds_motion(&c, replaces, want).await,
        "the new key as chosen"
    );

    // A link to a federation, from the file `mutual federation charter` writes: the
    // signed charter's hex.
    // A roster entry names a practice, its ODS code and its node's key, nothing more.
    let entry = |i: usize| {
        let p = mutual_tests::practice(i);
        pb::Practice {
            name: p.name,
            ods_code: p.ods_code,
            node_key: p.node_key,
            ..Default::default()
        }
    };
    let mut members = vec![
        pb::CharterNetwork {
            network: c.network().as_bytes().to_vec(),
            name: "Web Partnership".into(),
            practices: (0..3).map(|j| entry(base + j)).collect(),
            bootstrap: vec![],
        },
        pb::CharterNetwork {
            network: vec![7; 32],
            name: "Allied Partnership".into(),
            practices: vec![entry(base + 40)],
            bootstrap: vec![],
        },
    ];
    members.sort_by(|x, y| x.network.cmp(&y.network));
    for m in &mut members {
        m.practices.sort_by(|x, y| x.ods_code.cmp(&y.ods_code));
    }
    let charter = c
        .node(0)
        .sign_charter(pb::FederationCharter {
            name: "Northern Alliance".into(),
            members,
            ..Default::default()
        })
        .await
        .expect("a signed charter");
    let file = keys.path().join("alliance.charter");
    std::fs::write(&file, format!("{}\n", hex::encode(charter.to_wire()))).expect("written");
    start("link_federation", "Join the Northern Alliance").await;
    b.fill(
        "The signed charter (the file mutual federation charter wrote)",
        &file.display().to_string(),
    )
    .await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose a motion to link to a federation")
        .await;
    assert_eq!(
        b.confirm_row("The federation's charter").await,
        format!("a signed charter of {} bytes", charter.to_wire().len())
    );
    b.sign().await;
    let links = |m: &pb::Motion, keys: &[Vec<u8>]| {
        m.kind == pb::DecisionKind::LinkFederation as i32 && m.charter_event == keys[0]
    };
    assert!(
        holds_motion(&c, links, vec![charter.to_wire()]).await,
        "the link carries the charter's signed bytes"
    );

    // An amendment adding a power the board decides, a board term, and an agreement
    // partners accede to, named by its file's SHA-256.
    let agreement = keys.path().join("agreement.txt");
    std::fs::write(&agreement, b"We, the partners, agree.\n").expect("written");
    let hash = sha2::Sha256::digest(b"We, the partners, agree.\n").to_vec();
    start("amend_deed", "Premises, terms and our agreement").await;
    b.on(
        Target::Css("input[aria-label='New power: its name']"),
        Do::Replace("premises"),
    )
    .await;
    b.on(
        Target::Css("textarea[aria-label='new power: what it covers']"),
        Do::Replace("Premises and leases"),
    )
    .await;
    b.on(
        Target::Css("select[aria-label='new power: decided by']"),
        Do::Pick("3"),
    )
    .await;
    b.on(
        Target::Label("Board term (days; 0: until the next election)"),
        Do::Replace("365"),
    )
    .await;
    b.fill(
        "The partnership agreement partners accede to (choose its file to name a new one)",
        &agreement.display().to_string(),
    )
    .await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_text("propose a motion to amend the deed").await;
    let changes = b.confirm_row("The deed's changes").await;
    for said in [
        "power premises: a new power (Premises and leases), decided by the board".to_string(),
        "board term: none → 365 days".to_string(),
        format!(
            "the agreement: none → SHA-256 {}",
            &hex::encode(&hash)[..12]
        ),
    ] {
        assert!(changes.contains(&said), "{said:?} in {changes:?}");
    }
    b.sign().await;
    // Exactly those changes: the rest of the deed in force is as it was, byte for byte.
    let in_force = c
        .node(0)
        .query(|r| r.state().deed().cloned().expect("a deed"))
        .await
        .expect("query");
    let amends = |m: &pb::Motion, keys: &[Vec<u8>]| {
        let was = <pb::Deed as prost::Message>::decode(keys[1].as_slice()).expect("a deed");
        let (premises, kept) = match &m.new_deed {
            Some(d) if m.kind == pb::DecisionKind::AmendDeed as i32 => {
                let (new, old): (Vec<_>, Vec<_>) =
                    d.powers.iter().cloned().partition(|p| p.name == "premises");
                (
                    new,
                    pb::Deed {
                        powers: old,
                        ..d.clone()
                    },
                )
            }
            _ => return false,
        };
        let expected = pb::Deed {
            agreement_hash: keys[0].clone(),
            board_term_ms: 365 * 24 * 3_600_000,
            ..was
        };
        kept == expected
            && premises.len() == 1
            && premises[0].description == "Premises and leases"
            && premises[0]
                .rule
                .as_ref()
                .is_some_and(|r| r.voters == pb::Group::Board as i32)
    };
    let was = prost::Message::encode_to_vec(&in_force);
    assert!(
        holds_motion(&c, amends, vec![hash, was]).await,
        "the amendment as edited, and nothing else"
    );
    b.asked_only(&[a]).await;
    b.close().await;
}

/// Opens `GET /live` on `addr` and reads the answer's status line; the stream stays open
/// with the returned connection.
async fn open_live(addr: SocketAddr) -> (u16, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let mut head = [0u8; 12];
    tokio::time::timeout(LIMIT, s.read_exact(&mut head))
        .await
        .expect("answered in time")
        .expect("read");
    let status = String::from_utf8_lossy(&head[9..12])
        .parse()
        .expect("a status");
    (status, s)
}

/// `/live` holds at most `MAX_LIVE_STREAMS` streams: one more is answered 503, and a
/// closed one makes room. When the server stops, every open stream ends, so a graceful
/// shutdown does not wait on pages left open (without the stop signal it would wait
/// forever, and this test would time out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_are_capped_and_end_when_the_server_stops() {
    use mutual_node::api::web::MAX_LIVE_STREAMS;
    use tokio::io::AsyncReadExt;
    let c = Cluster::found(1, Transport::Tcp).await;
    let (stop, stopping) = mutual_node::api::Stopping::new();
    let state = mutual_node::api::ApiState {
        node: c.node(0).clone(),
        me: mutual_tests::node_key(c.base).public(),
        token: "token".into(),
        clock_offset_ms: 0,
        tls: false,
        uploads: Default::default(),
        tamper_prepare: false,
        live: Default::default(),
        stopping,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (halt, halted) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, mutual_node::api::router(state))
            .with_graceful_shutdown(async move {
                let _ = halted.await;
                let _ = stop.send(true);
            })
            .await
    });

    let mut open = Vec::new();
    for _ in 0..MAX_LIVE_STREAMS {
        let (status, s) = open_live(addr).await;
        assert_eq!(status, 200);
        open.push(s);
    }
    let (status, _) = open_live(addr).await;
    assert_eq!(status, 503, "one stream past the limit is refused");
    drop(open.pop());
    let room = wait_for(LIMIT, || async { open_live(addr).await.0 == 200 }).await;
    assert!(room, "a closed stream makes room");

    // The server stops: every stream ends, and the server with them.
    let _ = halt.send(());
    for mut s in open {
        let mut rest = Vec::new();
        tokio::time::timeout(LIMIT, s.read_to_end(&mut rest))
            .await
            .expect("the stream ends when the server stops")
            .expect("read");
    }
    tokio::time::timeout(LIMIT, server)
        .await
        .expect("the server stops with streams open")
        .expect("joined")
        .expect("served");
}
