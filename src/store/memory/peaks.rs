//! Each page's exact peak in the memory store: raised by every change to the page, kept
//! after the page empties until the stats sampler has saved it.

use std::time::SystemTime;

use hashbrown::HashMap;

use crate::domain::{PagePath, Peak};

/// Peaks of live pages, and of pages gone since their peak was last saved: nothing else,
/// so the map stays as small as the pages are.
#[derive(Default)]
pub struct Peaks(HashMap<PagePath, PeakEntry>);

struct PeakEntry {
    peak: Peak,
    /// Whether the stats sampler has saved this peak; a saved one of a gone page is dropped.
    saved: bool,
}

impl Peaks {
    pub fn get(&self, path: &PagePath) -> Option<Peak> {
        self.0.get(path).map(|entry| entry.peak)
    }

    pub fn unsaved(&self) -> impl Iterator<Item = (PagePath, Peak)> + '_ {
        self.0.iter().filter(|(_, entry)| !entry.saved).map(|(path, entry)| (path.clone(), entry.peak))
    }

    /// Marks the peak saved, unless it rose since; forgets a saved peak of a page that is
    /// not `live`.
    pub fn saved(&mut self, path: &PagePath, peak: &Peak, live: bool) {
        let Some(entry) = self.0.get_mut(path) else { return };
        if entry.peak != *peak {
            // It rose while being saved: the higher one is still to save.
            return;
        }
        if live {
            entry.saved = true;
        } else {
            self.0.remove(path);
        }
    }

    /// Keeps `viewer_count` as the page's peak if it is higher; an equal count keeps the
    /// earlier time, when the peak was first reached.
    pub fn raise(&mut self, path: &PagePath, viewer_count: usize, at: SystemTime) {
        let risen = PeakEntry { peak: Peak { viewer_count, at }, saved: false };
        match self.0.get_mut(path) {
            Some(entry) if entry.peak.viewer_count >= viewer_count => {}
            Some(entry) => *entry = risen,
            None if viewer_count > 0 => {
                self.0.insert(path.clone(), risen);
            }
            None => {}
        }
    }

    /// A saved peak of a page that is gone lives on in SQL; memory can let it go.
    pub fn page_gone(&mut self, path: &PagePath) {
        if self.0.get(path).is_some_and(|entry| entry.saved) {
            self.0.remove(path);
        }
    }

    /// Lets go of the room of peaks forgotten.
    pub fn shrink(&mut self) {
        if self.0.len() < self.0.capacity() / 4 {
            self.0.shrink_to_fit();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}
