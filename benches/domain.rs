//! Criterion benches of the pure parts: the quota plan, the draw from a 1,000,000-person
//! frame, the tally from aggregates, the estimate of the official result, and checking a
//! submitted form.
use criterion::{Criterion, criterion_group, criterion_main};
use renke::domain::draw::v1::{FrameEntry, draw};
use renke::domain::draw::v2;
use renke::domain::estimate::{EstimateInputs, OfficialEstimate};
use renke::domain::geography::{AreaScope, Geography};
use renke::domain::group::{GroupMap, RespondentGroup};
use renke::domain::questionnaire::{BUILT_IN, Definition};
use renke::domain::quota::{ParentShare, PlanParameters, SamplePlan, SamplingRate};
use renke::domain::response::Source;
use renke::domain::strata::{Area, AreaClass, Band, FullPlan, Stratum, stratify};
use renke::domain::tally::{Estimate, Estimator, SourceKey, SourceSums, Sums, headline};
use std::collections::BTreeMap;
use std::hint::black_box;

fn quota(c: &mut Criterion) {
    let p = PlanParameters::new(869_548, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap();
    c.bench_function("quota plan with caps", |b| {
        b.iter(|| {
            SamplePlan::with_frames(
                black_box(&p),
                &GroupMap::from_array([
                    Some(5000),
                    Some(300),
                    None,
                    Some(40),
                    None,
                    None,
                    Some(90),
                ]),
            )
        })
    });
    let areas: Vec<Area> = (0..20)
        .map(|i| Area::new(&format!("a{i}"), AreaClass::Rural, 10_000 + i * 997).unwrap())
        .collect();
    let plan = SamplePlan::compute(&p);
    let frames = vec![None; Stratum::all(areas.len()).len()];
    c.bench_function("strata over 20 areas", |b| {
        b.iter(|| stratify(black_box(&plan), &areas, &frames))
    });
}

fn draw_1m(c: &mut Criterion) {
    let areas = 20;
    let entries: Vec<FrameEntry> = (0..1_000_000usize)
        .map(|i| FrameEntry {
            stratum: Stratum {
                group: RespondentGroup::Parent,
                area: i % areas,
                band: Band::of(RespondentGroup::Parent, (i / areas) % 3),
            },
            external_id: format!("p{i:07}"),
            area: format!("a{}", i % areas),
            school: Some(format!("s{}", i % 400)),
            grade: Some(1 + (i % 9) as u8),
            phone: Some(format!("139{i:08}")),
        })
        .collect();
    let quotas: Vec<(Stratum, u64)> = (0..areas)
        .flat_map(|a| {
            (0..3).map(move |b| {
                (
                    Stratum {
                        group: RespondentGroup::Parent,
                        area: a,
                        band: Band::of(RespondentGroup::Parent, b),
                    },
                    25,
                )
            })
        })
        .collect();
    let mut g = c.benchmark_group("draw");
    g.sample_size(10);
    g.bench_function(
        "v1 from a 1,000,000-person frame (1,500 drawn + reserves)",
        |b| b.iter(|| draw(black_box(&entries), &quotas, 42, 20)),
    );
    // v2: every frame line hashed, ranked under the seed, then the run over the strata.
    let hash_all = |entries: &[FrameEntry]| -> Vec<v2::Entry> {
        entries
            .iter()
            .map(|e| {
                let line = v2::FrameLine {
                    group: e.stratum.group,
                    area: &e.area,
                    band: e.stratum.band.and_then(|b| b.grades(e.stratum.group)),
                    school: e.school.as_deref(),
                    grade: e.grade,
                    external_id: &e.external_id,
                    phone: e.phone.as_deref(),
                };
                let hash = line.hash();
                v2::Entry {
                    stratum: (e.stratum.area * 3 + e.stratum.band.map_or(0, |b| b.index())) as u32,
                    rank_key: v2::rank_key("42", &hash),
                    phone: line.phone_key(),
                }
            })
            .collect()
    };
    g.bench_function("v2 hash and rank 1,000,000 frame lines", |b| {
        b.iter(|| hash_all(black_box(&entries)))
    });
    let ranked = hash_all(&entries);
    let counts: Vec<u64> = quotas.iter().map(|(_, q)| *q).collect();
    g.bench_function("v2 run over 1,000,000 ranked people", |b| {
        b.iter(|| v2::run(black_box(&ranked), &counts, 20))
    });
    g.finish();
}

fn tally(c: &mut Criterion) {
    // 2,000 cells, as a county with many schools has: merge and estimate.
    let cells: Vec<Sums> = (0..2000)
        .map(|i| {
            let mut s = Sums::default();
            for k in 0..(5 + i % 7) {
                s.add(&Sums::one(12, 9 + (k % 4) as i64));
            }
            s
        })
        .collect();
    c.bench_function("tally of 2,000 aggregate cells", |b| {
        b.iter(|| {
            let mut all = Sums::default();
            let mut groups = vec![(1.0 / 7.0, Sums::default()); 7];
            for (i, s) in cells.iter().enumerate() {
                all.add(s);
                groups[i % 7].1.add(s);
            }
            let e = headline(Estimator::Pooled, &all, &groups, 0.85);
            let rows: Vec<Estimate> = cells.iter().map(|s| Estimate::of_cell(s, 0.85)).collect();
            (e, rows.len())
        })
    });
}

fn official_estimate(c: &mut Criterion) {
    // A county of 30 areas: every group in every area, answers from both sources, some flagged.
    let classes = [AreaClass::Urban, AreaClass::Town, AreaClass::Rural];
    let geo = Geography {
        area_ids: (1..=30).collect(),
        areas: (0..30)
            .map(|i| {
                Area::new(&format!("a{i}"), classes[i % 3], 20_000 + i as i64 * 1_000).unwrap()
            })
            .collect(),
        school_ids: Vec::new(),
        schools: Vec::new(),
    };
    let p = PlanParameters::new(869_548, SamplingRate::DEFAULT, ParentShare::DEFAULT, 0).unwrap();
    let frames = vec![None; Stratum::all(30).len()];
    let plan = FullPlan::new(&p, &GroupMap::from_array([None; 7]), geo, &frames);
    let mut sources = BTreeMap::new();
    for group in RespondentGroup::ALL {
        for area in 1..=30 {
            for (source, flagged) in [
                (Source::Invitation, false),
                (Source::Invitation, true),
                (Source::OpenChannel, false),
                (Source::OpenChannel, true),
            ] {
                let mut v = SourceSums::default();
                for k in 0..(3 + area % 5) {
                    v.counted.add(&Sums::one(11, 8 + (k % 4) as i64));
                    v.answered.add(&Sums::one(12, 8 + (k % 4) as i64));
                }
                let key = SourceKey {
                    group,
                    area: AreaScope::Area(area),
                    source,
                    flagged,
                };
                sources.insert(key, v);
            }
        }
    }
    c.bench_function(
        "official estimate over 840 source cells (5 readings)",
        |b| {
            b.iter(|| {
                OfficialEstimate::build(&EstimateInputs {
                    plan: black_box(&plan),
                    sources: &sources,
                    exclude_flagged: false,
                    target: 0.85,
                })
            })
        },
    );
}

fn form(c: &mut Criterion) {
    let def = Definition::parse(BUILT_IN[0]).unwrap();
    let fields: Vec<(String, String)> = def
        .items
        .iter()
        .map(|i| (i.id.clone(), "B".to_owned()))
        .chain([("comment".to_owned(), "很好".to_owned())])
        .collect();
    c.bench_function("check a submitted form", |b| {
        b.iter(|| {
            def.parse_answers(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .unwrap()
        })
    });
    c.bench_function("parse a questionnaire definition", |b| {
        b.iter(|| Definition::parse(black_box(BUILT_IN[0])).unwrap())
    });
}

criterion_group!(benches, quota, draw_1m, tally, official_estimate, form);
criterion_main!(benches);
