//! `/diff?from=<a>&to=<b>`: the comparison `ledger diff a b --commits` makes, service by
//! service, with the commit subjects between changed revisions when git knows them.

use askama::Template;

use super::{Dashboard, Nav, PageError, Params, ReleaseLink};
use ledger_app::views::Comparison;
use ledger_app::views::Releases;

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    nav: Nav,
    from: String,
    to: String,
    /// Environments and service sets, offered as sides.
    sides: Vec<String>,
    rows: Option<Vec<DiffRow>>,
}

struct DiffRow {
    service: String,
    change: &'static str,
    from: Option<ReleaseLink>,
    to: Option<ReleaseLink>,
    /// `None`: not a changed service, or commits unknown.
    commits: Option<Vec<String>>,
    commits_unknown: bool,
}

/// Both sides, or neither (the empty form); one alone is a malformed request.
pub fn sides(params: &Params) -> Result<Option<(String, String)>, PageError> {
    match (params.text("from"), params.text("to")) {
        (Some(from), Some(to)) => Ok(Some((from.to_string(), to.to_string()))),
        (None, None) => Ok(None),
        _ => Err(PageError::bad_request("give both sides: ?from=<env, set or id>&to=<env, set or id>")),
    }
}

pub fn page(dashboard: &Dashboard, params: &Params) -> Result<String, PageError> {
    let manifest = &dashboard.workspace.manifest;
    let mut page = DiffPage {
        nav: dashboard.nav("diff"),
        from: String::new(),
        to: String::new(),
        sides: manifest.environment_order.iter().chain(manifest.service_sets.keys()).cloned().collect(),
        rows: None,
    };
    if let Some((from, to)) = sides(params)? {
        let reader = dashboard.store.read()?;
        let releases = Releases::new(&reader, &dashboard.workspace.trust);
        let comparison =
            Comparison::load(&dashboard.workspace, &releases, &from, &to, true).map_err(PageError::lookup)?;
        let mut rows = Vec::new();
        for diff in &comparison.diffs {
            let commits = comparison.commits.get(&diff.service);
            rows.push(DiffRow {
                service: diff.service.clone(),
                change: diff.change.as_str(),
                from: ReleaseLink::maybe(&releases, diff.from)?,
                to: ReleaseLink::maybe(&releases, diff.to)?,
                commits: commits.cloned().flatten(),
                commits_unknown: commits.is_some_and(Option::is_none),
            });
        }
        (page.from, page.to, page.rows) = (from, to, Some(rows));
    }
    Ok(page.render()?)
}
