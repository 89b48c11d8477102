//! Counts and peaks: what the stats sampler reads from a store, and tells it back.

use crate::for_each_store;
use crate::harness::{counts, page, tab, Backend, LONG, NEVER};
use presence::store::PresenceStore;

for_each_store!(
    counts_and_peaks_of_pages_are_independent,
    the_peak_outlives_the_viewers,
    counts_never_go_negative,
    a_saved_peak_is_forgotten_once_its_page_is_gone,
);

async fn counts_and_peaks_of_pages_are_independent(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let (a, b) = (page("/a"), page("/b"));
    store.join(&a, &tab("alice", "t1"), None).await.unwrap();
    store.join(&a, &tab("bob", "t1"), None).await.unwrap();
    store.join(&b, &tab("alice", "t2"), None).await.unwrap();
    store.join(&b, &tab("alice", "t3"), None).await.unwrap();
    assert_eq!(counts(&*store).await, [("/a".into(), 2, 2), ("/b".into(), 1, 2)]);
    store.leave(&a, &tab("alice", "t1")).await.unwrap();
    store.leave(&a, &tab("bob", "t1")).await.unwrap();
    assert_eq!(counts(&*store).await, [("/b".into(), 1, 2)], "emptying /a leaves /b alone");
    assert_eq!(store.peak(&a).await.unwrap().map(|p| p.viewer_count), Some(2));
    assert_eq!(store.peak(&b).await.unwrap().map(|p| p.viewer_count), Some(1));
    assert_eq!(store.peak(&page("/c")).await.unwrap(), None);
}

async fn the_peak_outlives_the_viewers(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let auction = page("/auction/1");
    store.join(&auction, &tab("alice", "t1"), None).await.unwrap();
    store.join(&auction, &tab("bob", "t1"), None).await.unwrap();
    let peak = store.peak(&auction).await.unwrap().unwrap();
    assert_eq!(peak.viewer_count, 2);
    store.join(&auction, &tab("bob", "t2"), None).await.unwrap();
    store.leave(&auction, &tab("alice", "t1")).await.unwrap();
    store.join(&auction, &tab("carol", "t1"), None).await.unwrap();
    assert_eq!(store.peak(&auction).await.unwrap(), Some(peak), "a second tab is no viewer; a tie keeps the first");
    for (user, id) in [("bob", "t1"), ("bob", "t2"), ("carol", "t1")] {
        store.leave(&auction, &tab(user, id)).await.unwrap();
    }
    assert!(counts(&*store).await.is_empty(), "everyone left");
    assert_eq!(store.peak(&auction).await.unwrap(), Some(peak), "the peak stays");
}

async fn counts_never_go_negative(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let docs = page("/docs");
    store.leave(&docs, &tab("alice", "t1")).await.unwrap();
    store.join(&docs, &tab("alice", "t1"), None).await.unwrap();
    store.leave(&docs, &tab("alice", "t1")).await.unwrap();
    store.leave(&docs, &tab("alice", "t1")).await.unwrap();
    store.leave(&docs, &tab("bob", "t1")).await.unwrap();
    let empty = store.presence(&docs, usize::MAX).await.unwrap();
    assert_eq!((empty.viewers.len(), empty.tab_count), (0, 0));
    store.join(&docs, &tab("bob", "t1"), None).await.unwrap();
    assert_eq!(counts(&*store).await, [("/docs".into(), 1, 1)], "extra leaves were not held against the page");
    assert_eq!(store.peak(&docs).await.unwrap().unwrap().viewer_count, 1);
}

async fn a_saved_peak_is_forgotten_once_its_page_is_gone(backend: Backend) {
    let store = backend.open(LONG, NEVER).await;
    let (a, b) = (page("/a"), page("/b"));
    store.join(&a, &tab("alice", "t1"), None).await.unwrap();
    store.join(&b, &tab("bob", "t1"), None).await.unwrap();
    let saving = unsaved(&*store).await;
    assert_eq!(saving, [("/a".into(), 1), ("/b".into(), 1)]);
    let saving = store.unsaved_peaks().await.unwrap();
    // /a rises while the sampler writes what it read.
    store.join(&a, &tab("carol", "t1"), None).await.unwrap();
    store.peaks_saved(&saving).await.unwrap();
    assert_eq!(unsaved(&*store).await, [("/a".into(), 2)]);
    assert_eq!(store.peak(&b).await.unwrap().map(|p| p.viewer_count), Some(1), "live pages keep their peaks");

    store.leave(&b, &tab("bob", "t1")).await.unwrap();
    assert_eq!(store.peak(&b).await.unwrap(), None, "saved and gone: forgotten");
    store.leave(&a, &tab("alice", "t1")).await.unwrap();
    store.leave(&a, &tab("carol", "t1")).await.unwrap();
    assert_eq!(store.peak(&a).await.unwrap().map(|p| p.viewer_count), Some(2), "gone but not saved: kept");
    let still = store.unsaved_peaks().await.unwrap();
    store.peaks_saved(&still).await.unwrap();
    assert_eq!(store.peak(&a).await.unwrap(), None, "saved: forgotten");
    assert!(unsaved(&*store).await.is_empty());
}

/// The unsaved peaks as (page, viewers), by page.
async fn unsaved(store: &dyn PresenceStore) -> Vec<(String, usize)> {
    let mut peaks: Vec<(String, usize)> = store
        .unsaved_peaks()
        .await
        .unwrap()
        .into_iter()
        .map(|(page, peak)| (page.to_string(), peak.viewer_count))
        .collect();
    peaks.sort();
    peaks
}
