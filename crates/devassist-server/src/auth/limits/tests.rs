//! The in-memory store, on tokio's paused clock.

use super::*;
use devassist_core::TokenBudget;
use std::time::Duration;

fn caller(limits: CallerLimits) -> Caller {
    let mut c = Caller::anonymous();
    c.id = "dak_000000000001".into();
    c.name = "test".into();
    c.limits = limits;
    c
}

fn retry_after(e: &GatewayError) -> u64 {
    e.retry_after.map(|d| d.as_secs()).unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn requests_per_minute_refill_on_the_clock() {
    let l = Limiters::default();
    let c = caller(CallerLimits {
        rpm: Some(3),
        ..CallerLimits::default()
    });
    for _ in 0..3 {
        assert!(l.admit(&c).await.is_ok());
    }
    let refused = l.admit(&c).await.err().unwrap();
    assert_eq!(refused.status(), 429);
    assert!(
        refused.message.contains("3 requests per minute"),
        "{}",
        refused.message
    );
    assert_eq!(
        retry_after(&refused),
        20,
        "one request comes back every 20 s"
    );
    tokio::time::advance(Duration::from_secs(20)).await;
    assert!(l.admit(&c).await.is_ok());
    assert!(l.admit(&c).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_hold_places_until_their_answers_end() {
    let l = Arc::new(Limiters::default());
    let c = Arc::new(caller(CallerLimits {
        max_parallel: Some(2),
        ..CallerLimits::default()
    }));
    // Ten requests at once, each holding its place for a second.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (l, c) = (l.clone(), c.clone());
        tasks.spawn(async move {
            match l.admit(&c).await {
                Ok(a) => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    drop(a);
                    true
                }
                Err(e) => {
                    assert_eq!(retry_after(&e), 1);
                    false
                }
            }
        });
    }
    let admitted = tasks.join_all().await.into_iter().filter(|ok| *ok).count();
    assert_eq!(admitted, 2);
    let limiter = l.get(&c).unwrap();
    assert_eq!(limiter.in_progress(), 0, "every place given back");
    let again = l.admit(&c).await.unwrap();
    assert_eq!(limiter.in_progress(), 1);
    drop(again);
    assert_eq!(limiter.in_progress(), 0);
}

#[tokio::test(start_paused = true)]
async fn tokens_per_minute_are_a_debt_paid_back_over_time() {
    let l = Limiters::default();
    let c = caller(CallerLimits {
        tpm: Some(600),
        ..CallerLimits::default()
    });
    let a = l.admit(&c).await.unwrap();
    assert!(a.counts_tokens());
    a.spend(900); // one answer may overshoot
    drop(a);
    let refused = l.admit(&c).await.err().unwrap();
    assert!(refused.message.contains("600 tokens per minute"));
    // 301 tokens to pay back at 10 per second: 30.1 s, rounded up.
    assert_eq!(retry_after(&refused), 31);
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(l.admit(&c).await.is_err());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(l.admit(&c).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_renews_with_the_next_period() {
    let l = Limiters::default();
    let c = caller(CallerLimits {
        token_budget: Some(TokenBudget {
            tokens: 100,
            period: Duration::from_secs(3600),
        }),
        ..CallerLimits::default()
    });
    l.admit(&c).await.unwrap().spend(60);
    tokio::time::advance(Duration::from_secs(600)).await;
    l.admit(&c).await.unwrap().spend(60);
    let refused = l.admit(&c).await.err().unwrap();
    assert!(
        refused.message.contains("token budget of 100"),
        "{}",
        refused.message
    );
    assert_eq!(retry_after(&refused), 3000);
    tokio::time::advance(Duration::from_secs(3000)).await;
    assert!(l.admit(&c).await.is_ok(), "a new period");
}

#[tokio::test(start_paused = true)]
async fn callers_without_limits_cost_nothing_and_new_limits_take_effect() {
    let l = Limiters::default();
    let free = Caller::anonymous();
    let a = l.admit(&free).await.unwrap();
    assert!(!a.counts_tokens() && !a.holds_place());
    let mut c = caller(CallerLimits {
        rpm: Some(1),
        ..CallerLimits::default()
    });
    assert!(l.admit(&c).await.is_ok());
    assert!(l.admit(&c).await.is_err());
    c.limits.rpm = Some(5);
    assert!(l.admit(&c).await.is_ok(), "a changed policy starts afresh");
}
