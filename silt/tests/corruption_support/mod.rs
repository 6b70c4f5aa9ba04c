//! The corruption campaign (issue 7): every kind of file silt writes is damaged by seeded
//! mutations, and after each one the engine, a consumer and `silt verify` are held to what
//! `docs/FORMAT.md` promises. See `tests/corruption_campaign.rs` for how it runs.

pub mod case;
pub mod indexes;
pub mod judge;
pub mod model;
pub mod mutate;
pub mod read;
pub mod targets;
pub mod template;
pub mod verify;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use case::{Case, Outcome};
use model::Model;
use mutate::Rng;
use targets::Target;
use template::Template;

/// Counts of one class of file.
#[derive(Debug, Default, Clone)]
pub struct Row {
    pub injected: u64,
    /// `silt verify` need not see them (a limit of the format, or bytes nobody reads).
    pub exempt: u64,
    pub by_verify: u64,
    pub by_open: u64,
    pub by_read: u64,
    /// Seen by at least one of verify, open, read.
    pub detected: u64,
    /// Required to be seen by verify, and not seen (each one also a failure).
    pub missed: u64,
    pub repaired: u64,
    pub failed: u64,
    /// Records renumbered where no check can see it (format limits, counted).
    pub unseen_data: u64,
}

/// What a campaign found.
#[derive(Debug, Default)]
pub struct Tally {
    pub rows: BTreeMap<String, Row>,
    /// The same counts by kind of mutation.
    pub ops: BTreeMap<&'static str, Row>,
    /// (case header, failures) of every case that broke a promise.
    pub failures: Vec<(String, Vec<String>)>,
}

impl Tally {
    fn add(&mut self, header: String, outcome: Outcome) {
        for row in [
            self.rows.entry(outcome.class.clone()).or_default(),
            self.ops.entry(outcome.op).or_default(),
        ] {
            row.count(&outcome);
        }
        if !outcome.failures.is_empty() {
            self.failures.push((header, outcome.failures));
        }
    }

    /// The table printed at the end of a run: by kind of file, then by kind of mutation.
    pub fn table(&self) -> String {
        let mut out = table("file kind", self.rows.iter().map(|(k, r)| (k.as_str(), r)));
        out.push('\n');
        out.push_str(&table("mutation", self.ops.iter().map(|(k, r)| (*k, r))));
        out
    }

    pub fn total_injected(&self) -> u64 {
        self.rows.values().map(|r| r.injected).sum()
    }
}

impl Row {
    fn count(&mut self, outcome: &Outcome) {
        let row = self;
        let detected = outcome.by_verify || outcome.by_open || outcome.by_read;
        row.injected += 1;
        row.exempt += u64::from(outcome.exempt.is_some());
        row.by_verify += u64::from(outcome.by_verify);
        row.by_open += u64::from(outcome.by_open);
        row.by_read += u64::from(outcome.by_read);
        row.detected += u64::from(detected);
        row.missed += u64::from(outcome.exempt.is_none() && !outcome.by_verify);
        row.repaired += u64::from(outcome.repaired);
        row.failed += u64::from(!outcome.failures.is_empty());
        row.unseen_data += outcome.unseen_data as u64;
    }

    fn add(&mut self, r: &Row) {
        self.injected += r.injected;
        self.detected += r.detected;
        self.by_verify += r.by_verify;
        self.by_open += r.by_open;
        self.by_read += r.by_read;
        self.repaired += r.repaired;
        self.exempt += r.exempt;
        self.missed += r.missed;
        self.unseen_data += r.unseen_data;
        self.failed += r.failed;
    }
}

fn table<'a>(what: &str, rows: impl Iterator<Item = (&'a str, &'a Row)>) -> String {
    let mut out = format!(
        "{:<30} {:>8} {:>8} {:>6} {:>6} {:>6} {:>8} {:>6} {:>6} {:>6} {:>6}\n",
        what,
        "injected",
        "detected",
        "verify",
        "open",
        "read",
        "repaired",
        "exempt",
        "missed",
        "unseen",
        "failed"
    );
    let mut total = Row::default();
    for (key, r) in rows {
        row_line(&mut out, key, r);
        total.add(r);
    }
    row_line(&mut out, "total", &total);
    out
}

fn row_line(out: &mut String, class: &str, r: &Row) {
    let _ = writeln!(
        out,
        "{:<30} {:>8} {:>8} {:>6} {:>6} {:>6} {:>8} {:>6} {:>6} {:>6} {:>6}",
        class,
        r.injected,
        r.detected,
        r.by_verify,
        r.by_open,
        r.by_read,
        r.repaired,
        r.exempt,
        r.missed,
        r.unseen_data,
        r.failed
    );
}

/// A template with its model and its files by class.
struct Prepared {
    template: Template,
    model: Model,
    classes: Vec<(String, Vec<Target>)>,
}

fn prepare(clean: bool) -> Prepared {
    let template = template::build(clean);
    let model = Model::read(&template.path);
    baseline(&template, &model);
    let classes = targets::targets(&template.path, &model);
    Prepared {
        template,
        model,
        classes,
    }
}

/// The undamaged template passes everything the campaign checks: verify finds nothing,
/// every closed segment's indexes agree with its log.
fn baseline(template: &Template, model: &Model) {
    let run = verify::run(&template.path);
    assert_eq!(
        run.code,
        Some(0),
        "verify of the undamaged template: {run:?}"
    );
    for p in &model.partitions {
        let closed = p.segments.len() - usize::from(!template.clean);
        for segment in &p.segments[..closed] {
            let dir = template.path.join(p.name());
            let interval = u64::from(template::INDEX_INTERVAL_BYTES);
            indexes::agree(&dir, segment.base, interval).unwrap();
        }
    }
    assert!(model.partitions.len() >= 5, "{:?}", model.partitions.len());
}

/// Runs `mutations` cases from `seed`, alternating the clean and the unclean template,
/// drawing a class of file uniformly, then a file of it, then a mutation (with `only`, runs
/// that one case of them). Each case is announced on stderr before it runs, so a crash
/// names it.
pub fn campaign(mutations: usize, seed: u64, only: Option<usize>) -> Tally {
    let prepared = [prepare(true), prepare(false)];
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    for i in 0..mutations {
        let p = &prepared[i % 2];
        let (_, files) = rng.pick(&p.classes);
        let target = rng.pick(files);
        let bytes = std::fs::read(p.template.path.join(&target.rel)).unwrap();
        let mutation = mutate::generate(&mut rng, &bytes, &target.shape(&p.model));
        if only.is_some_and(|only| only != i) {
            continue;
        }
        let header = format!(
            "case {i} (seed {seed}, {} template): {} of {}",
            if p.template.clean { "clean" } else { "unclean" },
            mutation.describe(),
            target.rel.display()
        );
        eprintln!("{header}");
        let scratch = tempfile::tempdir().unwrap();
        let case = Case {
            template: &p.template,
            model: &p.model,
            target,
            mutation,
        };
        let outcome = case.run(scratch.path());
        tally.add(header, outcome);
    }
    tally
}
