//! Per-station rate limits: a station over its budget gets 429 problem+json with Retry-After;
//! another station is not slowed down; strangers never spend a station's budget.

use returns_edge::domain::Role;

use crate::helpers::spawn_app_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
    let app = spawn_app_with(|config| {
        config.server.rate_limit_per_second = 1;
        config.server.rate_limit_burst = 5;
    })
    .await;
    let dock1 = app.token(Role::Receiver).to_owned();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.list_events(&dock1, "").await);
    }
    assert!(statuses[..5].iter().all(|a| a.status == 200), "the burst is allowed");
    let limited = statuses
        .iter()
        .find(|a| a.status == 429)
        .expect("a request over the burst is refused");
    limited.assert_problem(429, Some("Authorization"));
    let retry_after: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");

    // Another station has its own budget.
    let dock2 = app.other_station_token.clone();
    assert_eq!(app.list_events(&dock2, "").await.status, 200);
    // A forged token with dock-2's id but a wrong secret is refused before touching any budget.
    // Change the last character to one it is not (a fixed "0" would be the real token one time in 16).
    let (head, last) = dock2.split_at(dock2.len() - 1);
    let forged = format!("{head}{}", if last == "0" { "1" } else { "0" });
    assert_ne!(forged, dock2);
    for _ in 0..10 {
        assert_eq!(app.list_events(&forged, "").await.status, 401);
    }
    assert_eq!(app.list_events(&dock2, "").await.status, 200);
}
