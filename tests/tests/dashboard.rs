//! `ledger serve` end to end: the real binary on a free loopback port, its pages rendered by
//! Debian's headless Chromium (installed by scripts/test), assertions on the rendered DOM, and
//! a screenshot of each page kept under target/dashboard-screenshots/.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ledger_testutil::process::{Project, ledger_bin};
use ledger_testutil::ssh::{generate_key, public_key_line};
use serde_json::Value;

const MANIFEST: &str = r#"
[project]
id = "shop"
name = "Shop"
[environments.stage]
[environments.prod]
[services.api]
image_repository = "registry.example.com/shop/api"
[services.web]
image_repository = "registry.example.com/shop/web"
"#;

/// Deployments to stage: more than one page (20).
const STAGE_DEPLOYMENTS: usize = 23;

/// A running `ledger serve`, stopped when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(project: &Project, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--addr", "127.0.0.1:0"];
        args.extend(extra);
        let mut child =
            project.command(&args).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("serve printed {line:?}"))
            .trim_end_matches('/')
            .to_string();
        Server { child, url }
    }

    /// A plain HTTP GET: the status and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let address = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
        (status, body)
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Headless Chromium with a profile of its own and no way off this machine.
struct Browser {
    profile: tempfile::TempDir,
    screenshots: PathBuf,
}

impl Browser {
    fn new() -> Browser {
        let found = Command::new("chromium").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "chromium is not installed: scripts/test installs it (apt-get install chromium)"
        );
        let screenshots = ledger_bin().parent().unwrap().parent().unwrap().join("dashboard-screenshots");
        std::fs::create_dir_all(&screenshots).unwrap();
        Browser { profile: tempfile::tempdir().unwrap(), screenshots }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new("timeout")
            .arg("60")
            .arg("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                "--timeout=20000",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "chromium {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        output
    }

    /// The DOM Chromium rendered for `url`; an empty one (the page did not load) fails.
    fn dom(&self, url: &str) -> String {
        let dom = String::from_utf8(self.run(&["--dump-dom", url]).stdout).unwrap();
        assert!(dom.contains("</main>") || dom.contains(r#"id="status""#), "{url} did not load: {dom}");
        dom
    }

    /// Saves a 1280×900 screenshot of `url` as `<name>.png` and checks it is a PNG.
    fn screenshot(&self, url: &str, name: &str) {
        let path = self.screenshots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&path);
        self.run(&[&format!("--screenshot={}", path.display()), "--window-size=1280,900", url]);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("no screenshot of {url}: {e}"));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1_000,
            "{name}.png is not a picture"
        );
    }
}

/// The opening tag of the element carrying `attributes`.
fn tag_with<'a>(dom: &'a str, attributes: &str) -> &'a str {
    let at = dom.find(attributes).unwrap_or_else(|| panic!("no element with {attributes} in {dom}"));
    let start = dom[..at].rfind('<').unwrap();
    &dom[start..at + dom[at..].find('>').unwrap()]
}

fn image(service: &str, tag: &str) -> String {
    format!("registry.example.com/shop/{service}:{tag}")
}

/// A project, the release whose message carries markup, and the release set of stage's first
/// deployment.
struct Fixture {
    project: Project,
    hostile: String,
    first_set: String,
}

/// stage: STAGE_DEPLOYMENTS deployments of api; prod: the first of them promoted. The newest
/// api release carries a message with markup.
fn project() -> Fixture {
    let project = Project::new(MANIFEST);
    project.ok(&["init"]);
    project.ok(&["register", "web", &image("web", "w1")]);
    for n in 1..=STAGE_DEPLOYMENTS {
        project.ok(&["register", "api", &image("api", &format!("v{n}"))]);
        project.ok(&["release", "-m", &format!("api v{n}")]);
        project.ok(&["apply", "latest", "stage", "--yes", "-m", &format!("ship api v{n}")]);
        if n == 1 {
            project.ok(&["promote", "stage", "prod", "--yes", "-m", "first to prod"]);
        }
    }
    let stage_log = project.json(&["log", "stage", "-n", "100"]);
    let first_set =
        stage_log["deployments"][STAGE_DEPLOYMENTS - 1]["release_set"].as_str().unwrap().to_string();
    let hostile =
        project.json(&["register", "api", &image("api", "x"), "-m", "<script>alert(1)</script> <b>bold</b>"]);
    Fixture { project, hostile: hostile["id"].as_str().unwrap().to_string(), first_set }
}

#[test]
fn pages_render_in_chromium() {
    let Fixture { project, hostile, first_set } = project();
    let server = Server::start(&project, &[]);
    let browser = Browser::new();

    let overview = browser.dom(&format!("{}/", server.url));
    browser.screenshot(&format!("{}/", server.url), "overview");
    let prod_api = tag_with(&overview, r#"data-env="prod" data-service="api""#);
    assert!(prod_api.contains("differs"), "prod runs api v1, stage v{STAGE_DEPLOYMENTS}: {prod_api}");
    let prod_web = tag_with(&overview, r#"data-env="prod" data-service="web""#);
    assert!(!prod_web.contains("differs"), "both run web w1: {prod_web}");
    assert!(!tag_with(&overview, r#"data-env="stage" data-service="api""#).contains("differs"));

    // The environment page: 20 deployments, then the rest behind the "older" link.
    let stage = browser.dom(&format!("{}/env/stage", server.url));
    browser.screenshot(&format!("{}/env/stage", server.url), "environment");
    assert_eq!(stage.matches("data-deployment=").count(), 20);
    assert!(stage.contains(&format!("ship api v{STAGE_DEPLOYMENTS}")));
    let next = tag_with(&stage, r#"rel="next""#);
    let href = next.split("href=\"").nth(1).unwrap().split('"').next().unwrap().replace("&amp;", "&");
    let older = browser.dom(&format!("{}{href}", server.url));
    assert_eq!(older.matches("data-deployment=").count(), STAGE_DEPLOYMENTS - 20);
    assert!(older.contains("ship api v1<") && !older.contains(&format!("ship api v{STAGE_DEPLOYMENTS}<")));
    assert!(older.contains(r#"rel="prev""#) && !older.contains(r#"rel="next""#));

    // The diff page lists what a promotion would change.
    let diff_url = format!("{}/diff?from=stage&to=prod", server.url);
    let diff = browser.dom(&diff_url);
    browser.screenshot(&diff_url, "diff");
    assert!(tag_with(&diff, r#"data-service="api""#).contains(r#"data-change="changed""#));
    assert!(tag_with(&diff, r#"data-service="web""#).contains(r#"data-change="unchanged""#));

    // Markup in a release message is text.
    let entry_url = format!("{}/entry/{hostile}", server.url);
    let entry = browser.dom(&entry_url);
    browser.screenshot(&entry_url, "entry");
    assert!(entry.contains("&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;"), "{entry}");
    assert!(!entry.contains("<script") && !entry.contains("<b>"));

    // stage's first release set runs in prod now (promoted) and was deployed to stage before.
    let set_url = format!("{}/entry/{first_set}", server.url);
    let set = browser.dom(&set_url);
    browser.screenshot(&set_url, "release-set");
    let now = &set[set.find(r#"id="deployed-now""#).unwrap()..];
    let now = &now[..now.find("</p>").unwrap()];
    assert!(now.contains(r#"href="/env/prod""#) && !now.contains(r#"href="/env/stage""#), "{now}");
    let deployed = &set[set.find(r#"id="deployed""#).unwrap()..];
    assert_eq!(deployed.matches(r#"<td><a href="/env/stage">stage</a></td>"#).count(), 1, "{deployed}");

    let metrics_url = format!("{}/metrics", server.url);
    let metrics = browser.dom(&metrics_url);
    browser.screenshot(&metrics_url, "metrics");
    assert_eq!(metrics.matches("<svg").count(), 8);
    let stage_metrics = &metrics[metrics.find(r#"data-env="stage""#).unwrap()..];
    assert!(stage_metrics.contains(&format!(r#"data-metric="deployments">{STAGE_DEPLOYMENTS}<"#)));

    let missing_url = format!("{}/entry/ffffffffffff", server.url);
    assert!(browser.dom(&missing_url).contains(">404 Not Found<"));
    browser.screenshot(&missing_url, "not-found");
    drop(server);

    governed_pages_render(&project, &browser);
}

/// The text from the element carrying `attributes` up to `end`.
fn section<'a>(dom: &'a str, attributes: &str, end: &str) -> &'a str {
    let at = dom.find(attributes).unwrap_or_else(|| panic!("no element with {attributes} in {dom}"));
    let rest = &dom[at..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// Under a policy (prod requires stage and two approvals): a promotion forced into prod, a newer
/// release set in stage approved for prod by Bob, and prod frozen by Carol. The overview shows
/// the freeze and the promotion waiting at its refused gates, the release set's page its gates
/// and approvals, and the forced deployment is marked where deployments are listed.
fn governed_pages_render(project: &Project, browser: &Browser) {
    let policy = "[environments.prod]\nrequires = [\"stage\"]\napprovals = 2\n";
    project.write("ledger.toml", &MANIFEST.replace("[environments.prod]\n", policy));
    let refused = project.run(&["promote", "stage", "prod", "--yes", "-m", "no approvals"]);
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    project.ok(&["promote", "stage", "prod", "--yes", "--override", "-m", "hotfix <i>now</i>"]);
    let forced =
        project.json(&["log", "prod", "-n", "1"])["deployments"][0]["id"].as_str().unwrap().to_string();
    project.ok(&["register", "api", &image("api", "v100")]);
    project.ok(&["release", "-m", "api v100"]);
    project.ok(&["apply", "latest", "stage", "--yes", "-m", "ship api v100"]);
    let set = project.json(&["log", "stage", "-n", "1"])["deployments"][0]["release_set"]
        .as_str()
        .unwrap()
        .to_string();
    project.ok(&["--actor", "Bob <bob@example.com>", "approve", &set, "prod", "-m", "looks good"]);
    project.ok(&["--actor", "Carol <carol@example.com>", "freeze", "prod", "-m", "incident <b>4711</b>"]);

    let server = Server::start(project, &[]);
    assert_eq!(server.json("/api/status"), project.json(&["status"]), "frozen and waiting, as the CLI says");
    assert_eq!(server.json("/api/approvals/prod"), project.json(&["approvals", "prod"]));

    let url = format!("{}/", server.url);
    let overview = browser.dom(&url);
    browser.screenshot(&url, "overview-governed");
    let prod = section(&overview, r#"<section class="env-gates" data-env="prod">"#, "</section>");
    assert!(tag_with(prod, "data-frozen=").contains(r#"data-frozen="manual""#), "{prod}");
    assert!(prod.contains("frozen by Carol &lt;carol@example.com&gt; since"), "{prod}");
    assert!(prod.contains("incident &lt;b&gt;4711&lt;/b&gt;"), "{prod}");
    let waiting = section(prod, r#"data-from-env="stage""#, "</div>");
    assert!(waiting.contains(r#"data-ready="false""#), "{waiting}");
    assert!(tag_with(waiting, r#"data-gate="requires""#).contains(r#"data-verdict="passed""#), "{waiting}");
    assert!(tag_with(waiting, r#"data-gate="approvals""#).contains(r#"data-verdict="refused""#), "{waiting}");
    assert!(tag_with(waiting, r#"data-gate="freeze""#).contains(r#"data-verdict="refused""#), "{waiting}");
    assert!(waiting.contains("approvals 1 of 2: Bob &lt;bob@example.com&gt;"), "{waiting}");
    let header = section(&overview, r#"<th data-env="prod">"#, "</th>");
    assert!(header.contains(r#"data-forced="approvals""#), "{header}");
    assert!(header.contains("hotfix &lt;i&gt;now&lt;/i&gt;"), "{header}");
    assert!(!overview.contains("<b>4711") && !overview.contains("<i>now"));

    let set_url = format!("{}/entry/{set}", server.url);
    let set_page = browser.dom(&set_url);
    browser.screenshot(&set_url, "release-set-gates");
    let prod = section(&set_page, r#"<section class="env-gates" data-env="prod">"#, "</section>");
    assert!(tag_with(prod, r#"data-gate="approvals""#).contains(r#"data-verdict="refused""#), "{prod}");
    assert!(tag_with(prod, r#"data-gate="freeze""#).contains(r#"data-verdict="refused""#), "{prod}");
    assert_eq!(prod.matches("data-approval=").count(), 1, "{prod}");
    assert!(prod.contains("Bob &lt;bob@example.com&gt;") && prod.contains("looks good"), "{prod}");
    let stage = section(&set_page, r#"<section class="env-gates" data-env="stage">"#, "</section>");
    assert!(stage.contains("runs it already"), "{stage}");

    let prod_url = format!("{}/env/prod", server.url);
    let log = browser.dom(&prod_url);
    browser.screenshot(&prod_url, "environment-forced");
    let entry = section(&log, &format!(r#"data-deployment="{forced}""#), "</section>");
    assert!(entry.contains(r#"data-forced="approvals""#), "{entry}");
    assert!(entry.contains("reason for the override:") && entry.contains("hotfix &lt;i&gt;now&lt;/i&gt;"));
    assert_eq!(log.matches("data-forced=").count(), 1, "only the forced deployment: {log}");
    let page = browser.dom(&format!("{}/entry/{forced}", server.url));
    assert!(section(&page, r#"class="deployment""#, "</section>").contains(r#"data-forced="approvals""#));
}

/// The signature mark of the deployment `id` on an environment page.
fn deployment_mark<'a>(dom: &'a str, id: &str) -> &'a str {
    let deployment = section(dom, &format!(r#"data-deployment="{id}""#), "</section>");
    tag_with(deployment, "data-signature=")
}

/// A team turns signing on at a point of its history: what was recorded before shows a quiet
/// "unsigned" mark, what its key signed after a "signed" one naming the signer and key, and
/// an entry whose key was then taken out of allowed_signers a warning.
#[test]
fn signature_marks_render_in_chromium() {
    let project = Project::new(MANIFEST).with_fixed_clock();
    let actor = "Test User <test@example.com>";
    project.ok(&["init"]);
    project.ok(&["register", "api", &image("api", "v1")]);
    project.ok(&["apply", "latest", "stage", "--service", "api", "--yes", "-m", "before signing"]);
    let unsigned =
        project.json(&["log", "stage", "-n", "1"])["deployments"][0]["id"].as_str().unwrap().to_string();

    let key = public_key_line(&generate_key(project.path(), "signing_key", "ed25519", ""));
    let bob_key = public_key_line(&generate_key(project.path(), "bob_key", "ed25519", ""));
    let signers = format!("test@example.com {key}\nbob@example.com {bob_key}\n");
    project.write("allowed_signers", &signers);
    let signing = r#"
[signing]
allowed_signers = "allowed_signers"
since = "2026-11-02T00:00:00Z"
key = "signing_key"
"#;
    project.write("ledger.toml", &format!("{MANIFEST}{signing}"));
    let signed_run = |at: &str, args: &[&str]| {
        let run = project.run_by(actor, at, args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    };
    signed_run("2026-11-02T10:00:00Z", &["register", "api", &image("api", "v2")]);
    signed_run(
        "2026-11-02T10:01:00Z",
        &["apply", "latest", "stage", "--service", "api", "--yes", "-m", "signed"],
    );
    let signed =
        project.json(&["log", "stage", "-n", "1"])["deployments"][0]["id"].as_str().unwrap().to_string();
    let fingerprint = project.json(&["show", &signed])["signature"]["key"].as_str().unwrap().to_string();
    // Bob deploys to prod with his key, which is then taken out of allowed_signers.
    let by_bob = project
        .command(&["apply", "latest", "prod", "--service", "api", "--yes", "-m", "bob's"])
        .env("LEDGER_ACTOR", "Bob <bob@example.com>")
        .env("LEDGER_TIMESTAMP", "2026-11-02T10:02:00Z")
        .env("LEDGER_SIGNING_KEY", project.path().join("bob_key"))
        .output()
        .unwrap();
    assert!(by_bob.status.success(), "{}", String::from_utf8_lossy(&by_bob.stderr));
    let revoked =
        project.json(&["log", "prod", "-n", "1"])["deployments"][0]["id"].as_str().unwrap().to_string();
    project.write("allowed_signers", &format!("test@example.com {key}"));

    let server = Server::start(&project, &[]);
    let browser = Browser::new();
    let stage_url = format!("{}/env/stage", server.url);
    let stage = browser.dom(&stage_url);
    browser.screenshot(&stage_url, "environment-signed");
    let mark = deployment_mark(&stage, &signed);
    assert!(mark.contains(r#"class="signature signed""#), "{mark}");
    assert!(
        mark.contains(&format!(r#"title="signed by test@example.com with key {fingerprint}""#)),
        "{mark}"
    );
    assert!(section(&stage, &format!(r#"data-deployment="{signed}""#), "</h2>").contains("✓ signed</span>"));
    let mark = deployment_mark(&stage, &unsigned);
    assert!(mark.contains(r#"class="signature unsigned""#), "{mark}");
    assert!(mark.contains("recorded before the signing policy began"), "{mark}");
    assert!(
        section(&stage, &format!(r#"data-deployment="{unsigned}""#), "</h2>").contains(">unsigned</span>")
    );

    let prod_url = format!("{}/env/prod", server.url);
    let prod = browser.dom(&prod_url);
    browser.screenshot(&prod_url, "environment-signature-not-valid");
    let mark = deployment_mark(&prod, &revoked);
    assert!(mark.contains(r#"class="signature invalid""#), "{mark}");
    assert!(mark.contains("which allowed_signers does not list"), "{mark}");

    // The entry page names the signer and the key in full.
    let entry_url = format!("{}/entry/{signed}", server.url);
    let entry = browser.dom(&entry_url);
    browser.screenshot(&entry_url, "entry-signed");
    let signature = section(&entry, r#"id="signature""#, "</td>");
    assert!(signature.contains(r#"data-signer="test@example.com">test@example.com</span>"#), "{signature}");
    assert!(signature.contains(&format!(r#"data-key="{fingerprint}">{fingerprint}</code>"#)), "{signature}");
    let before = browser.dom(&format!("{}/entry/{unsigned}", server.url));
    let signature = section(&before, r#"id="signature""#, "</td>");
    assert!(
        signature.contains(r#"data-signature="unsigned""#) && !signature.contains("data-key"),
        "{signature}"
    );
}

#[test]
fn api_answers_what_the_cli_prints() {
    let Fixture { project, hostile, .. } = project();
    let server = Server::start(&project, &[]);
    assert_eq!(server.json("/api/status"), project.json(&["status"]));
    assert_eq!(server.json("/api/log/stage"), project.json(&["log", "stage"]));
    assert_eq!(
        server.json("/api/log/stage?limit=3&service=api"),
        project.json(&["log", "stage", "-n", "3", "--service", "api"])
    );
    assert_eq!(server.json(&format!("/api/entry/{hostile}")), project.json(&["show", &hostile]));
    // Names resolve as `ledger show` resolves them: an environment, a service, a service set.
    for name in ["prod", "stage", "api", "service%2Fapi"] {
        let shown = project.json(&["show", &name.replace("%2F", "/")]);
        assert_eq!(server.json(&format!("/api/entry/{name}")), shown, "/api/entry/{name}");
    }
    let (status, page) = server.get("/entry/prod");
    assert_eq!(status, 200, "{page}");
    assert_eq!(server.json("/api/diff?from=stage&to=prod"), project.json(&["diff", "stage", "prod"]));

    // What another process records shows on the next request.
    let newer = project.json(&["register", "web", &image("web", "w2")]);
    let id = newer["id"].as_str().unwrap();
    assert_eq!(server.json(&format!("/api/entry/{id}"))["image"], image("web", "w2"));

    let (status, body) = server.get("/api/log/qa");
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get("/api/log/stage?limit=zero");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn follows_a_remote_and_refuses_bad_arguments() {
    let remote = tempfile::tempdir().unwrap();
    let url = format!("file://{}/shared", remote.path().display());
    let alice = Project::new(MANIFEST);
    alice.ok(&["init"]);
    alice.ok(&["remote", "add", "origin", &url]);
    alice.ok(&["remote", "init"]);
    alice.ok(&["register", "api", &image("api", "v1")]);
    alice.ok(&["push"]);
    let dashboard = Project::new(MANIFEST);
    dashboard.ok(&["init"]);
    dashboard.ok(&["remote", "add", "origin", &url]);
    let server = Server::start(&dashboard, &["--remote", "origin", "--refresh", "1"]);
    // Pulled on start.
    assert!(server.json("/api/entry/service%2Fapi")["image"] == image("api", "v1"));

    let newer = alice.json(&["register", "api", &image("api", "v2")]);
    let id = newer["id"].as_str().unwrap().to_string();
    alice.ok(&["push"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get(&format!("/api/entry/{id}")).0 != 200 {
        assert!(Instant::now() < deadline, "the dashboard never pulled {id}");
        std::thread::sleep(Duration::from_millis(200));
    }

    for (args, says) in [
        (&["serve", "--refresh", "5"][..], "--remote"),
        (&["serve", "--remote", "nowhere"][..], "unknown remote"),
        (&["serve", "--addr", "localhost"][..], "invalid"),
        (&["serve", "--allow-host", "dash.example.com:8080"][..], "is not a host name"),
        (&["serve", "--remote", "origin", "--refresh", "0"][..], "0"),
    ] {
        let output = dashboard.output(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // The port is taken by the running server.
    let taken = server.url.trim_start_matches("http://").to_string();
    let output = dashboard.output(&["serve", "--addr", &taken]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--addr"));
}
