//! The mock server's parent/child tree (repositories → issues → comments,
//! GitHub-like, `link_header` pagination) and an updated-since feed whose
//! items a test can change.
//!
//! | route | items |
//! |---|---|
//! | `/tree/repos?page=N` | [`tree_repo`] `1..=tree_repos` |
//! | `/tree/repos/{name}/issues?page=N` | [`tree_issue`]s of that repository: [`tree_issue_count`] of them (1 to 3 pages) |
//! | `/tree/issues/{id}/comments?page=N` | [`tree_comment`]s of that issue: `id % 3` of them (0 or 1 page) |
//! | `/tree/…?since=S` | the same, only the items updated after `S` (every tree item has an `updated_at`; [`MockServer::touch_tree`](super::MockServer::touch_tree) updates some) |
//! | `/feed?since=S&page=P` | `{"items": [{"id", "updated_at", "rev"}], "has_more"}`: the items updated after `S` (all without `since`), by id; [`MockServer::touch`](super::MockServer::touch) updates some |

use std::sync::Mutex;

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::MockState;
use super::routes::{bad_request, json_response, query};
use super::tree_changes::TreeItem;

/// Repository `r` of the tree (`repo-r`; none when it is the nameless one).
pub fn tree_repo(r: usize, nameless: Option<usize>) -> Value {
    if nameless == Some(r) {
        json!({ "id": r })
    } else {
        json!({ "id": r, "name": format!("repo-{r}") })
    }
}

/// How many issues repository `r` has: 1 to `3 × per_page`.
pub fn tree_issue_count(r: usize, per_page: usize) -> usize {
    1 + (r * 7) % (3 * per_page.max(1))
}

/// Issue `i` (from 0) of repository `r`.
pub fn tree_issue(r: usize, i: usize) -> Value {
    json!({ "id": r * 100_000 + i, "title": format!("issue {i} of repo-{r}") })
}

/// Comment `j` of issue `id`; issue `id` has `id % 3` comments.
pub fn tree_comment(id: usize, j: usize) -> Value {
    json!({ "id": id * 10 + j, "issue": id })
}

/// A feed item's `updated_at` for clock tick `tick` (one second per tick).
pub fn feed_time(tick: u64) -> String {
    format!(
        "2024-01-{:02}T{:02}:{:02}:{:02}Z",
        1 + tick / 86_400,
        (tick / 3600) % 24,
        (tick / 60) % 60,
        tick % 60
    )
}

/// The feed's items: per item (id from 1) the clock tick of its last
/// update and its revision.
#[derive(Debug)]
pub(super) struct Feed {
    items: Mutex<(Vec<(u64, u64)>, u64)>,
}

impl Feed {
    pub(super) fn new(n: usize) -> Self {
        let items = (1..=n as u64).map(|i| (i, 0)).collect();
        Self {
            items: Mutex::new((items, n as u64 + 1)),
        }
    }

    /// Updates items `ids` (from 1): a later `updated_at`, the next revision.
    pub(super) fn touch(&self, ids: &[usize]) {
        let mut guard = self.items.lock().unwrap_or_else(|e| e.into_inner());
        let (items, clock) = &mut *guard;
        for &id in ids {
            if let Some(item) = id.checked_sub(1).and_then(|i| items.get_mut(i)) {
                *item = (*clock, item.1 + 1);
                *clock += 1;
            }
        }
    }

    /// Every item as served.
    pub(super) fn snapshot(&self) -> Vec<Value> {
        let guard = self.items.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .0
            .iter()
            .enumerate()
            .map(|(i, (tick, rev))| json!({ "id": i + 1, "updated_at": feed_time(*tick), "rev": rev }))
            .collect()
    }
}

fn page_of(uri: &Uri) -> usize {
    query(uri, "page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// One `link_header` page of `all` (items of `kind`, stamped with their
/// `updated_at`, only those after `since` with one): items of page `page`,
/// a next link to `path` that keeps `since`.
fn linked(state: &MockState, uri: &Uri, all: Vec<Value>, kind: fn(usize) -> TreeItem) -> Response {
    let (path, page) = (uri.path(), page_of(uri));
    let since = query(uri, "since");
    let all = state.tree.stamp(all, kind, since.as_deref());
    let per = state.config.per_page;
    let pages = all.len().div_ceil(per).max(1);
    let items: Vec<Value> = all.into_iter().skip((page - 1) * per).take(per).collect();
    let mut response = json_response(StatusCode::OK, &Value::Array(items));
    if page < pages {
        let since = since
            .map(|s| {
                format!(
                    "&since={}",
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default();
        let next = format!(r#"<{}{path}?page={}{since}>; rel="next""#, state.base, page + 1);
        if let Ok(v) = HeaderValue::from_str(&next) {
            response.headers_mut().insert(header::LINK, v);
        }
    }
    response
}

/// The response of a tree or feed route, `None` when `uri` is not one.
pub(super) fn route(state: &MockState, uri: &Uri) -> Option<Response> {
    let config = &state.config;
    let path = uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match segments.as_slice() {
        ["tree", "repos"] => {
            let all = (1..=config.tree_repos)
                .map(|r| tree_repo(r, config.tree_nameless_repo))
                .collect();
            linked(state, uri, all, TreeItem::Repo)
        }
        ["tree", "repos", name, "issues"] => {
            let Some(r) = name
                .strip_prefix("repo-")
                .and_then(|r| r.parse::<usize>().ok())
                .filter(|r| (1..=config.tree_repos).contains(r))
            else {
                return Some(json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"message": "Not Found"}),
                ));
            };
            let all = (0..tree_issue_count(r, config.per_page))
                .map(|i| tree_issue(r, i))
                .collect();
            linked(state, uri, all, TreeItem::Issue)
        }
        ["tree", "issues", id, "comments"] => {
            let Ok(id) = id.parse::<usize>() else {
                return Some(bad_request("bad issue id"));
            };
            let all = (0..id % 3).map(|j| tree_comment(id, j)).collect();
            linked(state, uri, all, TreeItem::Comment)
        }
        ["feed"] => {
            let since = query(uri, "since");
            let per = config.per_page;
            let page = page_of(uri);
            let changed: Vec<Value> = state
                .feed
                .snapshot()
                .into_iter()
                .filter(|item| match (&since, item["updated_at"].as_str()) {
                    (Some(since), Some(at)) => at > since.as_str(),
                    _ => true,
                })
                .collect();
            let more = changed.len() > page * per;
            let items: Vec<Value> = changed.into_iter().skip((page - 1) * per).take(per).collect();
            json_response(StatusCode::OK, &json!({ "items": items, "has_more": more }))
        }
        _ => return None,
    })
}
