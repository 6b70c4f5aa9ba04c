//! Helpers shared by the range and round-robin assignor tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use silt_consumer::assignor::Subscription;
use silt_consumer::TopicPartition;

pub fn topics(list: &[(&str, u32)]) -> BTreeMap<String, u32> {
    list.iter().map(|&(t, n)| (t.to_string(), n)).collect()
}

pub fn member(topics: &[&str], instance: Option<&str>) -> Subscription {
    Subscription {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        group_instance_id: instance.map(str::to_string),
        ..Subscription::default()
    }
}

pub fn group(members: &[(&str, Subscription)]) -> BTreeMap<String, Subscription> {
    members
        .iter()
        .map(|(id, s)| (id.to_string(), s.clone()))
        .collect()
}

pub fn tps(list: &[(&str, u32)]) -> Vec<TopicPartition> {
    list.iter()
        .map(|&(t, p)| TopicPartition::new(t, p))
        .collect()
}

pub fn of<'a>(out: &'a BTreeMap<String, Vec<TopicPartition>>, id: &str) -> &'a [TopicPartition] {
    out.get(id).unwrap()
}
