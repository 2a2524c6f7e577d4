//! The dashboard behind `ledger serve`: read-only HTML pages and a JSON API over the ledger,
//! rendered on the server from compiled templates (no JavaScript, nothing from the network).
//! It depends on the application layer only: `/api/*` answers with the very documents the
//! CLI prints with `--output json`, and `/entry/<name>` finds what `ledger show` finds.
//!
//! Every request reads one snapshot of the store through its indexes. Unknown names and ids
//! answer 404 (a JSON one under `/api/`), malformed query parameters 400; only a damaged ledger
//! answers 500, and no answer names a path of the machine. Only the `Host` names of
//! [`hosts`] are answered, and a connection that sends no request in time is closed.

mod api;
mod compare;
mod entry;
mod env_log;
mod governance;
pub mod hosts;
mod metrics;
mod overview;
mod signature;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::Uri;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ledger_app::ledger::{EntryId, Source, Store, StoredEntry, Timestamp};
use ledger_app::remotes::{Shared, error_lines};
use ledger_app::views::{ReleaseView, Releases};
use ledger_app::workspace::clock;
use ledger_app::{Error, ErrorKind, Progress, Workspace};

use crate::hosts::AllowedHosts;

/// What every request reads: the project's manifest and its ledger.
pub struct Dashboard {
    pub workspace: Workspace,
    pub store: Store,
}

/// The dashboard of `workspace`: without a remote, its ledger opened read-only; with `remote`,
/// opened for writing (pulls write) and brought up to date with that remote first.
pub fn open(
    workspace: Workspace,
    remote: Option<&str>,
    progress: &dyn Progress,
) -> Result<(Dashboard, Option<Shared>), Error> {
    let (store, shared) = match remote {
        Some(name) => {
            let store = workspace.open_store()?;
            let shared = Shared::chosen(&workspace, Some(name), Some(&store))?;
            shared.pull(&store, progress)?;
            (store, Some(shared))
        }
        None => (workspace.open_store_for_reading()?, None),
    };
    Ok((Dashboard { workspace, store }, shared))
}

/// A remote the dashboard pulls from every `interval`, reporting to `progress`.
pub struct Follow {
    pub shared: Shared,
    pub interval: Duration,
    pub progress: Box<dyn Progress + Send>,
}

/// How long a connection may stay quiet or open.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From accepting a connection, or from the end of an answer, until the next request's
    /// headers have arrived; then the connection is closed.
    pub request_headers: Duration,
    /// A connection's whole life: then it finishes the answer under way (for at most
    /// `request_headers` more) and is closed.
    pub connection: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { request_headers: Duration::from_secs(10), connection: Duration::from_secs(300) }
    }
}

/// Serves the dashboard on `listener` until the process ends, answering to the names `hosts`
/// allows (on the listener's port), within `limits`; with `follow`, pulls from that remote meanwhile (a failed pull is
/// reported as a warning and the pages keep showing what was pulled before).
pub fn serve(
    listener: TcpListener,
    dashboard: Dashboard,
    follow: Option<Follow>,
    hosts: AllowedHosts,
    limits: Limits,
) -> Result<(), Error> {
    let dashboard = Arc::new(dashboard);
    if let Some(Follow { shared, interval, progress }) = follow {
        let following = dashboard.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(interval);
                if let Err(error) = shared.pull(&following.store, progress.as_ref()) {
                    progress.warning(&error_lines(&error).replacen("error:", "warning: pull failed:", 1));
                }
            }
        });
    }
    let failed = |e: std::io::Error| Error::failed(format!("the dashboard server stopped: {e}"));
    listener.set_nonblocking(true).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    let routes = router(dashboard, hosts.on_port(port));
    ledger_app::runtime::block_on(accept(listener, routes, limits))?.map_err(failed)
}

/// Accepts connections until the process ends, each answered on its own task.
async fn accept(listener: TcpListener, routes: Router, limits: Limits) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve_connection(stream, routes.clone(), limits));
            }
            // Out of file descriptors, or a connection reset before it was accepted: the next
            // accept may succeed.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Answers the requests of one connection, within `limits`.
async fn serve_connection(stream: tokio::net::TcpStream, routes: Router, limits: Limits) {
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.request_headers)
        .serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(routes),
        );
    let mut connection = std::pin::pin!(connection);
    if tokio::time::timeout(limits.connection, connection.as_mut()).await.is_err() {
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(limits.request_headers, connection).await;
    }
}

/// Every route, behind the `Host` check. Scripts and bookmarks depend on these paths.
pub fn router(dashboard: Arc<Dashboard>, hosts: AllowedHosts) -> Router {
    Router::new()
        .route("/", get(|d, q| html(d, q, |d, now, _| overview::page(d, now))))
        .route(
            "/env/{env}",
            get(|d, path: Path<String>, q| html(d, q, move |d, _, p| env_log::page(d, &path, p))),
        )
        .route(
            "/entry/{id}",
            get(|d, path: Path<String>, q| html(d, q, move |d, now, _| entry::page(d, &path, now))),
        )
        .route("/diff", get(|d, q| html(d, q, |d, _, p| compare::page(d, p))))
        .route("/metrics", get(|d, q| html(d, q, metrics::page)))
        .route(
            "/api/status",
            get(|d, q| json(d, q, |d, _| api::status(d, clock().map_err(PageError::from)?))),
        )
        .route(
            "/api/approvals/{env}",
            get(|d, path: Path<String>, q| {
                json(d, q, move |d, _| api::approvals(d, &path, clock().map_err(PageError::from)?))
            }),
        )
        .route(
            "/api/log/{env}",
            get(|d, path: Path<String>, q| json(d, q, move |d, p| api::log(d, &path, p))),
        )
        .route(
            "/api/entry/{id}",
            get(|d, path: Path<String>, q| json(d, q, move |d, _| api::entry(d, &path))),
        )
        .route("/api/diff", get(|d, q| json(d, q, api::diff)))
        .fallback(|uri: Uri| async move {
            let missing = PageError::not_found("no such page");
            if uri.path() == "/api" || uri.path().starts_with("/api/") {
                missing.json()
            } else {
                missing.html()
            }
        })
        .with_state(dashboard)
        .layer(axum::middleware::from_fn_with_state(Arc::new(hosts), hosts::check))
}

type DashboardState = State<Arc<Dashboard>>;

/// Renders an HTML page off the async runtime (pages read the store and may ask git).
async fn html(
    State(dashboard): DashboardState,
    RawQuery(query): RawQuery,
    render: impl FnOnce(&Dashboard, Timestamp, &Params) -> Result<String, PageError> + Send + 'static,
) -> Response {
    let answer = tokio::task::spawn_blocking(move || {
        let now = clock().map_err(PageError::from)?;
        render(&dashboard, now, &Params::parse(query.as_deref()))
    })
    .await;
    match answer {
        Ok(Ok(body)) => respond(StatusCode::OK, "text/html; charset=utf-8", body),
        Ok(Err(error)) => error.html(),
        Err(_) => PageError::internal("the page could not be rendered").html(),
    }
}

/// Answers with JSON, off the async runtime.
async fn json(
    State(dashboard): DashboardState,
    RawQuery(query): RawQuery,
    answer: impl FnOnce(&Dashboard, &Params) -> Result<serde_json::Value, PageError> + Send + 'static,
) -> Response {
    let answer =
        tokio::task::spawn_blocking(move || answer(&dashboard, &Params::parse(query.as_deref()))).await;
    match answer {
        Ok(Ok(value)) => {
            let body = serde_json::to_string_pretty(&value).unwrap_or_default();
            respond(StatusCode::OK, "application/json", body)
        }
        Ok(Err(error)) => error.json(),
        Err(_) => PageError::internal("the answer could not be built").json(),
    }
}

/// A response with the headers every answer carries: no script may run, nothing is loaded
/// from elsewhere.
fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Why a page cannot be shown.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// The ledger does not hold what its own indexes name: only `ledger verify` can say more.
    pub fn damaged(message: impl Into<String>) -> PageError {
        PageError::internal(format!("{}; run `ledger verify`", message.into()))
    }

    fn internal(message: impl Into<String>) -> PageError {
        PageError { status: StatusCode::INTERNAL_SERVER_ERROR, message: message.into() }
    }

    /// A lookup of a side that found nothing to show: any user error of it is a 404.
    pub fn lookup(error: Error) -> PageError {
        match error.kind {
            ErrorKind::Usage | ErrorKind::NotFound => PageError::not_found(error.message),
            ErrorKind::Failed | ErrorKind::Internal | ErrorKind::Refused => PageError::from(error),
        }
    }

    fn html(self) -> Response {
        let message = without_paths(&self.message);
        let page = ErrorPage {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or(""),
            message: &message,
        };
        let body = page.render().unwrap_or(message);
        respond(self.status, "text/html; charset=utf-8", body)
    }

    fn json(self) -> Response {
        let body = serde_json::json!({"error": without_paths(&self.message), "status": self.status.as_u16()});
        respond(self.status, "application/json", serde_json::to_string_pretty(&body).unwrap_or_default())
    }
}

/// An application error met while answering: an unknown name is a 404, a malformed request a
/// 400, anything else (a damaged ledger, a bug) a 500.
impl From<Error> for PageError {
    fn from(error: Error) -> PageError {
        match error.kind {
            ErrorKind::NotFound => PageError::not_found(error.message),
            ErrorKind::Usage => PageError::bad_request(error.message),
            ErrorKind::Refused => PageError { status: StatusCode::FORBIDDEN, message: error.message },
            ErrorKind::Failed | ErrorKind::Internal => PageError::internal(error.message),
        }
    }
}

impl From<ledger_app::ledger::StoreError> for PageError {
    fn from(error: ledger_app::ledger::StoreError) -> PageError {
        PageError::from(Error::from(error))
    }
}

impl From<ledger_app::ledger::history::HistoryError> for PageError {
    fn from(error: ledger_app::ledger::history::HistoryError) -> PageError {
        PageError::from(Error::from(error))
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> PageError {
        PageError::internal(format!("cannot render the page: {error}"))
    }
}

/// `message` with every absolute path cut to its last component (`/home/ana/shop/ledger.toml`
/// → `ledger.toml`): a visitor learns nothing of the machine's directories.
fn without_paths(message: &str) -> String {
    let mut shown = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('/') {
        let (before, from_slash) = rest.split_at(start);
        shown.push_str(before);
        let length =
            from_slash.find(|c: char| c.is_whitespace() || "\"'`),;".contains(c)).unwrap_or(from_slash.len());
        let word = &from_slash[..length];
        let path = word.strip_suffix(':').unwrap_or(word);
        let starts_a_word =
            before.chars().next_back().is_none_or(|c| c.is_whitespace() || "\"'`(".contains(c));
        if starts_a_word && path.len() > 1 {
            shown.push_str(path.trim_end_matches('/').rsplit('/').next().unwrap_or(""));
            rest = &from_slash[path.len()..];
        } else {
            shown.push_str(word);
            rest = &from_slash[length..];
        }
    }
    shown.push_str(rest);
    shown
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// A request's query parameters (the last of a repeated name wins).
pub struct Params(BTreeMap<String, String>);

impl Params {
    fn parse(query: Option<&str>) -> Params {
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned();
        Params(pairs.collect())
    }

    /// A parameter's value; an empty one counts as absent.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|value| !value.is_empty())
    }

    /// A whole number in `range`, or `default` when absent.
    pub fn number(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<usize>,
        default: usize,
    ) -> Result<usize, PageError> {
        let Some(text) = self.text(name) else { return Ok(default) };
        text.parse::<usize>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
            PageError::bad_request(format!(
                "{name}={text:?} is not valid: give a whole number from {} to {}",
                range.start(),
                range.end()
            ))
        })
    }

    /// `true`/`1` or `false`/`0`; `false` when absent.
    pub fn flag(&self, name: &str) -> Result<bool, PageError> {
        match self.text(name) {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1") => Ok(true),
            Some(other) => {
                Err(PageError::bad_request(format!("{name}={other:?} is not valid: give true or false")))
            }
        }
    }
}

/// The links at the top of every page.
pub struct Nav {
    pub project: String,
    pub envs: Vec<String>,
    /// Which link is the current page's.
    pub current: String,
}

impl Dashboard {
    pub fn nav(&self, current: &str) -> Nav {
        let manifest = &self.workspace.manifest;
        Nav {
            project: manifest.project.name.clone(),
            envs: manifest.environment_order.clone(),
            current: current.to_string(),
        }
    }

    /// `env` when the manifest declares it.
    pub fn known_env(&self, env: &str) -> Result<(), PageError> {
        Ok(self.workspace.environment(env).map(|_| ())?)
    }
}

/// The entry `text` names, as `ledger show` finds it: an id, a unique prefix (at least 4 hex
/// digits), a ref, or the name of an environment, service set or service.
pub fn find_entry<S: Source>(
    dashboard: &Dashboard,
    releases: &Releases<'_, S>,
    text: &str,
) -> Result<StoredEntry, PageError> {
    Ok(ledger_app::log::show(&dashboard.workspace, releases, text)?.entry)
}

/// A release as pages link to it.
pub struct ReleaseLink {
    pub id: String,
    /// The tag and short revision.
    pub label: String,
    pub image: String,
}

impl ReleaseLink {
    pub fn of(view: &ReleaseView) -> ReleaseLink {
        ReleaseLink { id: view.id.to_hex(), label: view.human(), image: view.image.clone() }
    }

    pub fn load<S: Source>(releases: &Releases<'_, S>, id: EntryId) -> Result<ReleaseLink, PageError> {
        let view = releases.view(id)?;
        Ok(ReleaseLink::of(&view))
    }

    /// A side that may be absent.
    pub fn maybe<S: Source>(
        releases: &Releases<'_, S>,
        id: Option<EntryId>,
    ) -> Result<Option<ReleaseLink>, PageError> {
        id.map(|id| ReleaseLink::load(releases, id)).transpose()
    }
}

/// `5m`, `3h`, `2d`, `6w`: how long ago `at` was.
pub fn age(at: Timestamp, now: Timestamp) -> String {
    let seconds = (now.0 - at.0).max(0) / 1_000_000;
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3_600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3_600),
        s if s < 14 * 86_400 => format!("{}d", s / 86_400),
        s => format!("{}w", s / (7 * 86_400)),
    }
}
