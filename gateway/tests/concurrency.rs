//! Confirm is single-use under contention: many simultaneous confirms of one preview write
//! exactly one file and succeed exactly once.

mod common;

use std::sync::Arc;

use common::{session, TestGateway};
use domain::control_plane::{Channel, ConfirmRequest, PreviewRequest};
use domain::PublicError;
use futures::future::join_all;
use gateway::Operator;
use http::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_simultaneous_confirms_write_one_file() {
    let test = TestGateway::new();
    for round in 0..10 {
        let session = session();
        let raw_input = if round % 2 == 0 { "liam check status" } else { "lisa run nightly_report" };
        let preview = test.preview_ok(&session, raw_input).await;
        let preview_id = preview["preview_id"].as_str().unwrap().to_owned();
        let attempts = (0..16).map(|_| {
            let router = test.router.clone();
            let body = json!({"preview_id": preview_id, "session_id": session}).to_string();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let response = router.oneshot(common::json_request("/api/v1/chat/confirm", &body)).await.unwrap();
                response.status()
            })
        });
        let statuses: Vec<StatusCode> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
        let successes = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let conflicts = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
        assert_eq!((successes, conflicts), (1, 15), "round {round}: {statuses:?}");
    }
    let files = test.files_in("interface/inbox").len() + test.files_in("interface/pending_approval").len();
    assert_eq!(files, 10, "one file per preview");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_confirms_through_the_service_agree() {
    let test = TestGateway::new();
    let gateway = Arc::clone(&test.gateway);
    let session = session();
    let preview = gateway
        .preview(
            PreviewRequest { raw_input: "show pending".into(), channel: Channel::Web, session_id: session.clone() },
            Operator::new(common::OPERATOR),
            None,
        )
        .await
        .unwrap();
    let attempts = (0..16).map(|_| {
        let gateway = Arc::clone(&gateway);
        let request = ConfirmRequest {
            preview_id: preview.preview_id.clone(),
            session_id: session.clone(),
            structured_override: None,
        };
        tokio::spawn(async move { gateway.confirm(request, Operator::new(common::OPERATOR), None).await })
    });
    let results: Vec<_> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    let task_ids: Vec<&str> = results.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.task_id.as_str()).collect();
    assert_eq!(task_ids.len(), 1, "{results:?}");
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refused.code().as_str(), "PREVIEW_ALREADY_CONFIRMED");
    }
    assert_eq!(test.files_in("interface/inbox"), vec![format!("{}.yaml", task_ids[0])]);
    // Every attempt was logged once.
    let confirms = test.telemetry_lines().into_iter().filter(|line| line["event"] == "confirm").count();
    assert_eq!(confirms, 16);
}
