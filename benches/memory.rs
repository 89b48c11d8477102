//! The registry's memory and its sweep's pauses at 1 M tabs (`bash loadtest/store.sh`;
//! results and their reading in `loadtest/README.md`):
//!
//! 1. RSS and heap per live tab once 1 M tabs joined, and once each heartbeated, each
//!    request's ids parsed afresh as the handlers parse them; then RSS once they all
//!    expired and were swept, and once jemalloc purged the pages they freed.
//! 2. Heap and RSS per tab of the same tabs with every id allocated once beforehand: what
//!    the maps and the expiry set cost by themselves.
//! 3. Heartbeat latency (p50/p99/max) on one thread while another sweeps 1 M expired tabs.
//!
//! Real clock throughout, with a TTL longer than a fill takes. `MEMORY_BENCH_TABS` picks
//! another size; a smoke test (`cargo test --all-targets`) uses 2 000 tabs and a 2 s TTL.

mod common;

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use presence::domain::TabKey;
use presence::domain::{PagePath, TabId, UserId};
use presence::store::memory::MemoryStore;
use presence::store::{PresenceStore, TabLimits};
use tikv_jemallocator::Jemalloc;
use tokio::runtime::Handle;

/// Long enough that the background sweep never runs: the program sweeps when it means to.
const NEVER: Duration = Duration::from_secs(365 * 24 * 3600);
/// jemalloc's background thread purges pages unused for a second (`.cargo/config.toml`).
const PURGED_WITHIN: Duration = Duration::from_secs(3);
/// Live tabs heartbeated while the sweep runs, on pages of their own.
const LIVE_TABS: usize = 1_000;

/// The service's allocator (jemalloc, as `src/main.rs` sets it), counting the bytes the
/// program holds.
struct Counting;

static HEAP: AtomicIsize = AtomicIsize::new(0);
/// Off while latency is measured, so two threads do not share a counter then.
static COUNTING: AtomicBool = AtomicBool::new(true);

fn count(bytes: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        HEAP.fetch_add(bytes, Ordering::Relaxed);
    }
}

// SAFETY: every call goes to `Jemalloc` unchanged; the counter only observes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller upholds `alloc`'s contract, which `Jemalloc` shares.
        unsafe { Jemalloc.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { Jemalloc.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: as above.
        unsafe { Jemalloc.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as above.
        unsafe { Jemalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What the process holds at one moment: resident set and live heap bytes.
#[derive(Clone, Copy)]
struct Usage {
    rss: isize,
    heap: isize,
}

impl Usage {
    fn now() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
        let kib: isize = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/self/status");
        Usage { rss: kib * 1024, heap: HEAP.load(Ordering::Relaxed) }
    }

    fn report(self, what: &str, since: Usage, tabs: usize) {
        let (rss, heap) = (self.rss - since.rss, self.heap - since.heap);
        let per_tab =
            |bytes: isize| if tabs == 0 { String::new() } else { format!(" = {} B/tab", bytes / tabs as isize) };
        println!(
            "| {what} | {} | {:+.1} MiB{} | {:+.1} MiB{} |",
            mib(self.rss),
            rss as f64 / MIB,
            per_tab(rss),
            heap as f64 / MIB,
            per_tab(heap)
        );
    }
}

const MIB: f64 = 1024.0 * 1024.0;

fn mib(bytes: isize) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

struct Run {
    tabs: usize,
    /// Heartbeats timed without a sweep, for comparison.
    quiet_heartbeats: usize,
    ttl: Duration,
    handle: Handle,
}

impl Run {
    /// Joins (or heartbeats) every tab, each request's ids parsed afresh (or taken from
    /// `shared`); answers when the last tab was refreshed.
    fn round(
        &self,
        store: &MemoryStore,
        shared: Option<&[(PagePath, TabKey)]>,
        heartbeat: bool,
        what: &str,
    ) -> Instant {
        let started = Instant::now();
        self.handle.block_on(async {
            for i in 0..self.tabs {
                let parsed;
                let (page, key) = match shared {
                    Some(tabs) => (&tabs[i].0, &tabs[i].1),
                    None => {
                        parsed = common::tab(i, self.tabs);
                        (&parsed.0, &parsed.1)
                    }
                };
                if heartbeat {
                    store.heartbeat(page, key, false).await.unwrap();
                } else {
                    store.join(page, key, None).await.unwrap();
                }
            }
        });
        let took = started.elapsed();
        eprintln!("{what} {} tabs in {took:.2?}", self.tabs);
        if took > self.ttl / 2 {
            eprintln!("warning: that is over half the TTL ({:?}); early tabs may have expired", self.ttl);
        }
        Instant::now()
    }

    /// Waits until every tab refreshed by `last` has expired, and its bucket of the
    /// sweep's wheel (a quarter second wide) is over.
    fn wait_for_expiry(&self, last: Instant) {
        std::thread::sleep((last + self.ttl + Duration::from_millis(300)).saturating_duration_since(Instant::now()));
    }

    fn memory(&self) {
        println!("\n## Memory: {} tabs on {} pages\n", self.tabs, self.tabs.div_ceil(common::TABS_PER_PAGE));
        println!("| moment | RSS | RSS since start | heap since start |");
        println!("| --- | ---: | ---: | ---: |");
        let start = Usage::now();
        start.report("start (empty store)", start, 0);
        let store = self.handle.block_on(async { MemoryStore::start(self.ttl, NEVER, TabLimits::NONE) });
        self.round(&store, None, false, "joined");
        Usage::now().report("all joined", start, self.tabs);
        self.round(&store, None, true, "heartbeated");
        Usage::now().report("all heartbeated once", start, self.tabs);
        let last = self.round(&store, None, true, "heartbeated again");
        Usage::now().report("all heartbeated twice", start, self.tabs);
        self.wait_for_expiry(last);
        let started = Instant::now();
        let removed = self.handle.block_on(store.sweep()).unwrap();
        eprintln!("swept {removed} tabs in {:.2?}", started.elapsed());
        assert_eq!(removed, self.tabs, "every tab expired by the sweep");
        Usage::now().report("all expired and swept", start, 0);
        std::thread::sleep(PURGED_WITHIN);
        Usage::now().report(&format!("{PURGED_WITHIN:?} later (jemalloc purged the free pages)"), start, 0);
        // The stats sampler saves the peaks of the gone pages, so the store may forget them.
        self.handle.block_on(async {
            let peaks = store.unsaved_peaks().await.unwrap();
            store.peaks_saved(&peaks).await.unwrap();
        });
        drop(store);
        std::thread::sleep(PURGED_WITHIN);
        Usage::now().report("peaks saved, store dropped", start, 0);
    }

    /// The same registry with every id allocated once, before the start, and shared by
    /// all requests: what the maps and the expiry set cost by themselves.
    fn memory_with_shared_ids(&self) {
        let pages: Vec<PagePath> =
            (0..self.tabs.div_ceil(common::TABS_PER_PAGE)).map(|page| common::tab(page, self.tabs).0).collect();
        let users: Vec<UserId> = (0..self.tabs.div_ceil(common::TABS_PER_USER))
            .map(|user| common::tab(user * common::TABS_PER_USER, self.tabs).1.user)
            .collect();
        let tabs: Vec<(PagePath, TabKey)> = (0..self.tabs)
            .map(|i| {
                let (_, TabKey { tab, .. }) = common::tab(i, self.tabs);
                let user = users[i / common::TABS_PER_USER].clone();
                (pages[i % pages.len()].clone(), TabKey { user, tab })
            })
            .collect();
        println!("\n## Memory of the maps alone: the same tabs, every id allocated once beforehand\n");
        println!("| moment | RSS | RSS since start | heap since start |");
        println!("| --- | ---: | ---: | ---: |");
        let start = Usage::now();
        let store = self.handle.block_on(async { MemoryStore::start(self.ttl, NEVER, TabLimits::NONE) });
        self.round(&store, Some(&tabs), false, "joined (shared ids)");
        Usage::now().report("all joined", start, self.tabs);
        self.round(&store, Some(&tabs), true, "heartbeated (shared ids)");
        Usage::now().report("all heartbeated once", start, self.tabs);
    }

    /// Heartbeat latency with and without a sweep of `tabs` expired tabs running on
    /// another thread: `pace` `None` sends heartbeats back to back; `Some(every)` sends one
    /// every `every` and times each from when it was due, so a heartbeat held up by the
    /// sweep also counts the delay of those due behind it (no coordinated omission).
    fn sweep_pauses(&self, pace: Option<Duration>) {
        COUNTING.store(false, Ordering::Relaxed);
        let how = match pace {
            None => "back to back".to_string(),
            Some(every) => format!("one every {every:?}, timed from when due"),
        };
        let store = self.handle.block_on(async { MemoryStore::start(self.ttl, NEVER, TabLimits::NONE) });
        let last = self.round(&store, None, false, "joined");
        self.wait_for_expiry(last);
        let live: Vec<(PagePath, TabKey)> = (0..LIVE_TABS)
            .map(|i| {
                let (_, key) = common::tab(i, LIVE_TABS);
                let page = PagePath::parse(&format!("/live/page-{}", i % (LIVE_TABS / common::TABS_PER_PAGE))).unwrap();
                (page, TabKey { tab: TabId::parse(&common::uuid(u64::MAX - i as u64)).unwrap(), ..key })
            })
            .collect();
        self.handle.block_on(async {
            for (page, key) in &live {
                store.join(page, key, None).await.unwrap();
            }
        });
        let quiet = self.heartbeats(&store, &live, pace, |count, _| count == self.quiet_heartbeats);
        print_latencies(&format!("{how}, no sweep"), quiet);
        let swept = OnceLock::new();
        let both_ready = Barrier::new(2);
        let ((removed, took), during) = std::thread::scope(|scope| {
            let sweeper = scope.spawn(|| {
                both_ready.wait();
                let started = Instant::now();
                let removed = self.handle.block_on(store.sweep()).unwrap();
                let _ = swept.set(Instant::now());
                (removed, started.elapsed())
            });
            both_ready.wait();
            // Paced, every heartbeat due before the sweep ended counts, however late it ran.
            let during = self.heartbeats(&store, &live, pace, |_, due| swept.get().is_some_and(|end| due >= *end));
            (sweeper.join().unwrap(), during)
        });
        print_latencies(&format!("{how}, during a sweep of {removed} tabs ({took:.2?})"), during);
        assert_eq!(removed, self.tabs, "the sweep removed every expired tab");
        COUNTING.store(true, Ordering::Relaxed);
    }

    /// Times heartbeats of the live tabs, paced as `sweep_pauses` says, until
    /// `enough(count so far, when the next one is due)`.
    fn heartbeats(
        &self,
        store: &MemoryStore,
        live: &[(PagePath, TabKey)],
        pace: Option<Duration>,
        enough: impl Fn(usize, Instant) -> bool,
    ) -> Vec<Duration> {
        let mut times = Vec::with_capacity(1 << 20);
        let first = Instant::now();
        self.handle.block_on(async {
            for (page, key) in live.iter().cycle() {
                let due = pace.map_or_else(Instant::now, |every| first + every * times.len() as u32);
                if enough(times.len(), due) {
                    break;
                }
                // Spinning: a sleep this short would oversleep.
                while Instant::now() < due {
                    std::hint::spin_loop();
                }
                store.heartbeat(page, key, false).await.unwrap();
                times.push(due.elapsed());
            }
        });
        times
    }
}

fn print_latencies(what: &str, mut times: Vec<Duration>) {
    if times.is_empty() {
        println!("| {what} | 0 | | | | |");
        return;
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "| {what} | {} | {:.1?} | {:.1?} | {:.1?} | {:.1?} |",
        times.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        times[times.len() - 1]
    );
}

fn main() {
    let full = common::full_run();
    let tabs = std::env::var("MEMORY_BENCH_TABS")
        .map(|tabs| tabs.parse().expect("MEMORY_BENCH_TABS: a number"))
        .unwrap_or(if full { 1_000_000 } else { 2_000 });
    let ttl = if full { Duration::from_secs(10) } else { Duration::from_secs(2) };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("# Store memory and sweep pauses: {tabs} tabs, TTL {ttl:?}; load average at start: {}", load.trim());
    let quiet_heartbeats = if full { 20_000 } else { 1_000 };
    let run = Run { tabs, quiet_heartbeats, ttl, handle: runtime.handle().clone() };
    run.memory();
    run.memory_with_shared_ids();
    println!("\n## Heartbeats on another thread while {tabs} expired tabs are swept\n");
    println!("| heartbeats | count | p50 | p99 | p99.9 | max |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    // The lock's hand-over varies from run to run, so each way is measured a few times.
    for _ in 0..if full { 3 } else { 1 } {
        run.sweep_pauses(None);
        run.sweep_pauses(Some(Duration::from_micros(100)));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nload average at the end: {}", load.trim());
}
