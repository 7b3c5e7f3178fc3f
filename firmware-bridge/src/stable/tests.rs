//! Tests of the stable-weight rule: each condition on its own, and a property over random
//! sequences of readings checked against the rule as stated in the module notes.

use proptest::prelude::*;

use super::*;
use crate::event::DeviceId;

fn reading(grams: i64, stability: WeightStability, at_ms: u64) -> ScaleReading {
    ScaleReading {
        device: DeviceId("scale".into()),
        grams,
        resolution_g: 1,
        stability,
        at_zero: grams == 0,
        at_ms,
    }
}

fn tracker() -> StableWeight {
    StableWeight::new(StableRule {
        max_age_ms: 1_000,
        identical_n: 3,
        window_ms: 500,
        min_grams: 1,
    })
}

#[test]
fn a_stable_reading_is_usable_until_it_is_too_old() {
    let mut weights = tracker();
    weights.observe(&reading(1250, WeightStability::Stable, 10_000));
    assert_eq!(weights.usable(10_500).map(|reading| reading.grams), Some(1250));
    assert_eq!(weights.assess(11_001), Assessment::TooOld { age_ms: 1_001 });
}

#[test]
fn motion_and_capacity_are_reported_never_usable() {
    let mut weights = tracker();
    for (stability, expected) in [
        (WeightStability::Motion, Assessment::Motion),
        (WeightStability::OverCapacity, Assessment::OverCapacity),
        (WeightStability::UnderCapacity, Assessment::UnderCapacity),
    ] {
        weights.observe(&reading(1250, stability, 10_000));
        assert_eq!(weights.assess(10_000), expected);
    }
}

#[test]
fn a_state_report_or_a_disconnect_withdraws_the_stable_reading() {
    let mut weights = tracker();
    weights.observe(&reading(1250, WeightStability::Stable, 10_000));
    let state = ScaleState {
        device: DeviceId("scale".into()),
        stability: WeightStability::Motion,
        at_zero: false,
        at_ms: 10_100,
    };
    weights.observe_event(&DeviceEvent::ScaleState(state));
    assert_eq!(weights.assess(10_200), Assessment::Motion);

    weights.observe(&reading(1250, WeightStability::Stable, 10_300));
    let unplugged = DeviceEvent::Status {
        device: DeviceId("scale".into()),
        status: DeviceStatus::Disconnected {
            reason: "unplugged".into(),
        },
        at_ms: 10_400,
    };
    weights.observe_event(&unplugged);
    assert_eq!(weights.assess(10_400), Assessment::NoReading);
}

#[test]
fn unreported_stability_needs_n_identical_readings_within_the_window() {
    let mut weights = tracker();
    weights.observe(&reading(800, WeightStability::Unreported, 1_000));
    weights.observe(&reading(800, WeightStability::Unreported, 1_200));
    assert_eq!(
        weights.assess(1_200),
        Assessment::NotYetAgreed {
            identical: 2,
            needed: 3
        }
    );
    weights.observe(&reading(800, WeightStability::Unreported, 1_400));
    assert_eq!(weights.usable(1_400).map(|reading| reading.grams), Some(800));
    // A different value starts the count again.
    weights.observe(&reading(805, WeightStability::Unreported, 1_500));
    assert_eq!(
        weights.assess(1_500),
        Assessment::NotYetAgreed {
            identical: 1,
            needed: 3
        }
    );
}

#[test]
fn identical_readings_spread_wider_than_the_window_do_not_agree() {
    let mut weights = tracker();
    for at_ms in [1_000, 1_300, 1_600] {
        weights.observe(&reading(800, WeightStability::Unreported, at_ms));
    }
    assert_eq!(
        weights.assess(1_600),
        Assessment::NotYetAgreed {
            identical: 3,
            needed: 3
        }
    );
    weights.observe(&reading(800, WeightStability::Unreported, 1_700));
    assert!(weights.usable(1_700).is_some(), "the last three span 400 ms");
}

#[test]
fn an_empty_scale_is_not_a_parcel_weight() {
    let mut weights = tracker();
    weights.observe(&reading(0, WeightStability::Stable, 1_000));
    assert_eq!(weights.assess(1_000), Assessment::BelowMinimum { grams: 0 });
}

#[test]
fn late_readings_do_not_replace_newer_ones() {
    let mut weights = tracker();
    weights.observe(&reading(1250, WeightStability::Motion, 2_000));
    weights.observe(&reading(1250, WeightStability::Stable, 1_000));
    assert_eq!(weights.assess(2_000), Assessment::Motion);
}

fn any_stability() -> impl Strategy<Value = WeightStability> {
    prop_oneof![
        Just(WeightStability::Stable),
        Just(WeightStability::Motion),
        Just(WeightStability::OverCapacity),
        Just(WeightStability::UnderCapacity),
        Just(WeightStability::Unreported),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the sequence, a usable reading is the latest observed, flagged stable (or the
    /// last N identical unreported readings within the window), young enough and heavy enough.
    #[test]
    fn usable_readings_always_satisfy_the_rule(
        steps in prop::collection::vec((prop_oneof![Just(0i64), 1i64..3, 100i64..102], any_stability(), 0u64..400), 1..40),
        now_after in 0u64..1_500,
    ) {
        let rule = StableRule { max_age_ms: 1_000, identical_n: 3, window_ms: 500, min_grams: 1 };
        let mut weights = StableWeight::new(rule);
        let mut at_ms = 0;
        let mut seen = Vec::new();
        for (grams, stability, gap) in steps {
            at_ms += gap;
            let next = reading(grams, stability, at_ms);
            weights.observe(&next);
            seen.push(next);
        }
        let now = at_ms + now_after;
        if let Some(usable) = weights.usable(now) {
            let latest = seen.last().cloned();
            prop_assert_eq!(Some(usable.clone()), latest);
            prop_assert!(now - usable.at_ms <= rule.max_age_ms);
            prop_assert!(usable.grams >= rule.min_grams);
            match usable.stability {
                WeightStability::Stable => {}
                WeightStability::Unreported => {
                    let tail = &seen[seen.len().saturating_sub(3)..];
                    prop_assert_eq!(tail.len(), 3);
                    prop_assert!(tail.iter().all(|earlier| earlier.grams == usable.grams
                        && earlier.stability == WeightStability::Unreported));
                    prop_assert!(usable.at_ms - tail[0].at_ms <= rule.window_ms);
                }
                other => prop_assert!(false, "usable with stability {:?}", other),
            }
        } else if let Some(latest) = seen.last() {
            // And the other way round: a young, heavy, flagged-stable latest reading is usable.
            if latest.stability == WeightStability::Stable && latest.grams >= 1 && now - latest.at_ms <= 1_000 {
                prop_assert!(false, "stable latest reading refused: {:?}", weights.assess(now));
            }
        }
    }
}
