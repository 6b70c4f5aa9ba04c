//! A group whose members do not all follow the same rebalance protocol (a member offering
//! `range,cooperative-sticky` is eager, one offering only `cooperative-sticky` is
//! cooperative) still hands out every partition once it settles on `cooperative-sticky`.
//!
//! The eager member revoked its partitions before it rejoined, so none of them may be held
//! back for a second round: no one would trigger that round (found by the `group_ops` fuzz
//! target, `fuzz/regressions/group_ops/eager_member_owned_partitions_withheld.bin`).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, NoopListener, OffsetReset};
use silt_engine::Engine;
use support::{open, settle_stable, topic};

fn member(engine: &Engine, strategy: &str, topics: &[&str]) -> Consumer {
    let config = ConsumerConfig::with_group("g")
        .auto_offset_reset(OffsetReset::Earliest)
        .assignment_strategy(strategy)
        .unwrap();
    let mut c = engine.consumer(config).unwrap();
    c.subscribe(topics, NoopListener).unwrap();
    c
}

#[test]
fn an_eager_members_old_partitions_go_to_the_cooperative_newcomer() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 3);
    topic(&engine, "u", 2);
    let mut eager = member(&engine, "range,cooperative-sticky", &["t", "u"]);
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut eager],
        Duration::from_secs(10),
        |c| c[0].assignment().len() == 5
    ));
    let mut cooperative = member(&engine, "cooperative-sticky", &["t"]);
    let all_assigned = |c: &[&mut Consumer]| {
        let owned: Vec<_> = c.iter().flat_map(|c| c.assignment()).collect();
        let distinct: BTreeSet<_> = owned.iter().cloned().collect();
        owned.len() == 5 && distinct.len() == 5 && c.iter().all(|c| !c.assignment().is_empty())
    };
    assert!(
        settle_stable(
            &engine,
            "g",
            &mut [&mut eager, &mut cooperative],
            Duration::from_secs(10),
            all_assigned
        ),
        "every partition is owned once: {:?} and {:?}",
        eager.assignment(),
        cooperative.assignment()
    );
    let described = engine.describe_consumer_group("g").unwrap();
    assert_eq!(described.protocol.as_deref(), Some("cooperative-sticky"));
    eager.close().unwrap();
    cooperative.close().unwrap();
    engine.close().unwrap();
}
