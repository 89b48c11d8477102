//! Criterion benchmarks of the in-memory registry, called through `PresenceStore` as the
//! handlers call it, at 1 k, 100 k and 1 M live tabs: `bash loadtest/store.sh`, whose
//! results and reading are in `loadtest/README.md`.
//!
//! Each size's registry is filled once (see `common` for its shape) and kept steady: a
//! bench that adds or removes tabs undoes it outside the timed part. Tabs are visited in
//! a fixed random order, so each iteration touches another part of memory, as real
//! traffic does. `STORE_BENCH_TABS=1000,100000` picks other sizes.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use presence::directory::Directory;
use presence::domain::{PagePath, Profile, TabId, UserId};
use presence::domain::{TabKey, Version};
use presence::snapshot::{SnapshotCache, Timing, View};
use presence::store::memory::MemoryStore;
use presence::store::{PresenceStore, TabLimits};

/// The service's allocator, as `src/main.rs` sets it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Long enough that no tab expires while the benchmarks run.
const LONG_TTL: Duration = Duration::from_secs(24 * 3600);
/// The production TTL, which the sweep benchmark's paused clock jumps past.
const TTL: Duration = Duration::from_secs(45);
/// Long enough that the background sweep never runs: the sweep benchmark calls it itself.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);
/// Viewers on the page whose snapshot is benchmarked, each with one tab and a profile.
const SNAPSHOT_VIEWERS: usize = 200;
/// Viewers a heartbeat's answer lists: the handlers' default `limit`.
const LIMIT: usize = 100;

/// One size's registry: the store, its tabs, and the 200-viewer page of the snapshot bench.
struct Registry {
    label: String,
    store: MemoryStore,
    tabs: Vec<(PagePath, TabKey)>,
    /// A random order of `tabs`, which `next` walks round.
    order: Vec<usize>,
    cursor: Cell<usize>,
    editing: Vec<Cell<bool>>,
    snapshots: SnapshotCache,
    snapshot_page: PagePath,
    caller: UserId,
}

impl Registry {
    async fn fill(tabs: Vec<(PagePath, TabKey)>, directory: &Directory) -> Self {
        let store = MemoryStore::start(LONG_TTL, NEVER, TabLimits::NONE);
        for (page, key) in &tabs {
            store.join(page, key, None).await.unwrap();
        }
        let snapshot_page = PagePath::parse("/bench/two-hundred-viewers").unwrap();
        for (i, viewer) in snapshot_viewers().enumerate() {
            let key = TabKey { user: viewer, tab: TabId::parse(&common::uuid(u64::MAX - i as u64)).unwrap() };
            store.join(&snapshot_page, &key, None).await.unwrap();
        }
        // Warm the directory's profile cache, as a page's first poll would.
        let snapshots = SnapshotCache::new(Timing { ttl_ms: 45_000, heartbeat_interval_ms: 15_000 });
        snapshots.get(&store, directory, &snapshot_page, Version::EMPTY, LIMIT).await.unwrap();
        let mut order: Vec<usize> = (0..tabs.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, common::mix(i as u64) as usize % (i + 1));
        }
        Self {
            label: label(tabs.len()),
            store,
            editing: tabs.iter().map(|_| Cell::new(false)).collect(),
            tabs,
            order,
            cursor: Cell::new(0),
            snapshots,
            snapshot_page,
            caller: snapshot_viewers().nth(SNAPSHOT_VIEWERS / 2).unwrap(),
        }
    }

    /// The next tab in the random order.
    fn next(&self) -> usize {
        let cursor = self.cursor.get();
        self.cursor.set(cursor + 1);
        self.order[cursor % self.order.len()]
    }

    /// The next `count` tabs in the random order, in runs of distinct tabs that leave
    /// each page with about nine tenths of its tabs while they are away.
    fn next_runs(&self, count: u64) -> Vec<Vec<usize>> {
        let run = (self.tabs.len() / 10).clamp(1, 10_000);
        let picks: Vec<usize> = (0..count).map(|_| self.next()).collect();
        picks.chunks(run).map(<[usize]>::to_vec).collect()
    }
}

fn snapshot_viewers() -> impl Iterator<Item = UserId> {
    (0..SNAPSHOT_VIEWERS).map(|i| UserId::parse(&format!("viewer-{i}")).unwrap())
}

fn label(tabs: usize) -> String {
    match tabs {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// The registry sizes: `STORE_BENCH_TABS` if set, else 1 k, 100 k and 1 M (1 k alone in
/// a smoke test).
fn sizes() -> Vec<usize> {
    if let Ok(sizes) = std::env::var("STORE_BENCH_TABS") {
        return sizes.split(',').map(|size| size.trim().parse().expect("STORE_BENCH_TABS: numbers")).collect();
    }
    if common::full_run() {
        vec![1_000, 100_000, 1_000_000]
    } else {
        vec![1_000]
    }
}

async fn directory(database: &tempfile::TempDir) -> Directory {
    let url = format!("sqlite:{}", database.path().join("presence.db").display());
    let directory = Directory::connect(&url).await.unwrap();
    for (i, id) in snapshot_viewers().enumerate() {
        let profile = Profile {
            name: format!("Viewer {i}"),
            avatar: Some(format!("https://example.com/avatars/{id}.png")),
            role: (i % 10 == 0).then(|| "editor".to_string()),
            id,
        };
        directory.upsert(profile).await.unwrap();
    }
    directory
}

fn store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let database = tempfile::tempdir().unwrap();
    let directory = runtime.block_on(directory(&database));
    let registries: Vec<Registry> = sizes()
        .into_iter()
        .map(|size| {
            let started = Instant::now();
            let tabs = (0..size).map(|i| common::tab(i, size)).collect();
            let registry = runtime.block_on(Registry::fill(tabs, &directory));
            eprintln!("filled {} tabs in {:.1?}", registry.label, started.elapsed());
            registry
        })
        .collect();

    let mut group = c.benchmark_group("heartbeat");
    for r in &registries {
        group.bench_function(&r.label, |b| {
            b.to_async(&runtime).iter(|| {
                let (page, key) = &r.tabs[r.next()];
                r.store.heartbeat(page, key, false)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("heartbeat_toggling_editing");
    for r in &registries {
        group.bench_function(&r.label, |b| {
            b.to_async(&runtime).iter(|| {
                let i = r.next();
                let editing = !r.editing[i].get();
                r.editing[i].set(editing);
                r.store.heartbeat(&r.tabs[i].0, &r.tabs[i].1, editing)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("join_new_tab");
    for r in &registries {
        group.bench_function(&r.label, |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let runs = r.next_runs(iters);
                async move {
                    let mut timed = Duration::ZERO;
                    for run in runs {
                        for &i in &run {
                            r.store.leave(&r.tabs[i].0, &r.tabs[i].1).await.unwrap();
                        }
                        let started = Instant::now();
                        for &i in &run {
                            black_box(r.store.join(&r.tabs[i].0, &r.tabs[i].1, None).await.unwrap());
                        }
                        timed += started.elapsed();
                    }
                    timed
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("leave");
    for r in &registries {
        group.bench_function(&r.label, |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let runs = r.next_runs(iters);
                async move {
                    let mut timed = Duration::ZERO;
                    for run in runs {
                        let started = Instant::now();
                        for &i in &run {
                            black_box(r.store.leave(&r.tabs[i].0, &r.tabs[i].1).await.unwrap());
                        }
                        timed += started.elapsed();
                        for &i in &run {
                            r.store.join(&r.tabs[i].0, &r.tabs[i].1, None).await.unwrap();
                        }
                    }
                    timed
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("presence_of_100_tab_page");
    for r in &registries {
        group.bench_function(&r.label, |b| {
            b.to_async(&runtime).iter(|| r.store.presence(&r.tabs[r.next()].0, usize::MAX))
        });
    }
    group.finish();

    // A cached snapshot's answer; then what a poll answered 304 costs in the cache: the
    // lookup and the caller's tag.
    cached_snapshot(c, "snapshot_200_viewers_cached", &runtime, &directory, &registries, |view| view.body());
    cached_snapshot(c, "snapshot_200_viewers_etag", &runtime, &directory, &registries, |view| view.etag());

    let mut group = c.benchmark_group("snapshot_200_viewers_rebuilt");
    for r in &registries {
        group.bench_function(&r.label, |b| {
            b.to_async(&runtime).iter(|| async {
                // No page is ever at this version, so the cache misses every time.
                let built =
                    r.snapshots.get(&r.store, &directory, &r.snapshot_page, Version(u64::MAX), LIMIT).await.unwrap();
                built.view(&r.caller, LIMIT).body()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("sweep_all_expired");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for r in &registries {
        sweep(&mut group, r);
    }
    group.finish();
}

/// Times `answer` of the cached 200-viewer snapshot, as the registries' caller sees it.
fn cached_snapshot<R>(
    c: &mut Criterion,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    directory: &Directory,
    registries: &[Registry],
    answer: impl Fn(View) -> R + Copy,
) {
    let mut group = c.benchmark_group(name);
    for r in registries {
        let version = runtime.block_on(r.store.version(&r.snapshot_page)).unwrap();
        group.bench_function(&r.label, |b| {
            b.to_async(runtime).iter(|| async {
                let page = &r.snapshot_page;
                answer(r.snapshots.view(&r.store, directory, page, version, &r.caller, LIMIT).await.unwrap())
            })
        });
    }
    group.finish();
}

/// Times one sweep of a store whose tabs (the registry's, joined in order on a paused
/// clock that moves a microsecond per join, so every deadline differs) all expired.
fn sweep(group: &mut BenchmarkGroup<'_, WallTime>, r: &Registry) {
    let paused = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    group.throughput(Throughput::Elements(r.tabs.len() as u64));
    group.bench_function(BenchmarkId::from_parameter(&r.label), |b| {
        b.to_async(&paused).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let store = MemoryStore::start(TTL, NEVER, TabLimits::NONE);
                for (page, key) in &r.tabs {
                    tokio::time::advance(Duration::from_micros(1)).await;
                    store.join(page, key, None).await.unwrap();
                }
                // Past the deadlines and past the quarter-second bucket of the wheel they are in.
                tokio::time::advance(TTL + Duration::from_secs(1)).await;
                let started = Instant::now();
                let removed = store.sweep().await.unwrap();
                timed += started.elapsed();
                assert_eq!(removed, r.tabs.len());
                drop(store);
            }
            timed
        })
    });
}

criterion_group! {
    name = benches;
    // Short enough for a 2-core machine; `loadtest/store.sh` passes longer times for the record.
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = store
}
criterion_main!(benches);
