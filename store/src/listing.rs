//! Listings ([`Store::page`](crate::Store::page), [`WriteSet::page`](crate::WriteSet::page)):
//! a range scan of the entry sizes, merged with a run's own writes when it has some.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Instant;

use redb::{Database, ReadableDatabase};

use crate::database::{ENTRIES, ENTRY_SIZES};
use crate::error::storage;
use crate::record::{decode, entry_bytes};
use crate::writes::Change;
use crate::{ListPage, PageRequest, StoreError};

/// The page of entries under `prefix` that `request` asks for, from `db` as `overlay` (a
/// run's own changes, by key) changes it: its puts are listed (in key order, with their own
/// sizes) in place of what the database holds, its deletes are left out. `max_bytes` is the
/// store's `max_list_bytes` (or the request's smaller bound).
pub(crate) fn page(
    db: &Database,
    prefix: &str,
    request: &PageRequest<'_>,
    max_bytes: u64,
    overlay: Option<&BTreeMap<String, Change>>,
) -> Result<ListPage, StoreError> {
    let max_entry_bytes = request.max_entry_bytes.unwrap_or(u64::MAX);
    let mut page = ListPage {
        entries: Vec::new(),
        next: None,
        skipped: 0,
    };
    if request.limit == 0 {
        return Ok(page);
    }
    let start = match request.after {
        Some(after) if after >= prefix => Bound::Excluded(after),
        _ => Bound::Included(prefix),
    };
    let txn = db.begin_read().map_err(storage)?;
    let entries = txn.open_table(ENTRIES).map_err(storage)?;
    let sizes = txn.open_table(ENTRY_SIZES).map_err(storage)?;
    let mut stored = sizes
        .range::<&str>((start, Bound::Unbounded))
        .map_err(storage)?;
    let empty = BTreeMap::new();
    let mut own = overlay
        .unwrap_or(&empty)
        .range::<str, _>((start, Bound::Unbounded));
    let mut next_stored = || -> Result<Option<(String, u64)>, StoreError> {
        match stored.next() {
            Some(item) => {
                let (key, size) = item.map_err(storage)?;
                let key = key.value();
                Ok(key
                    .starts_with(prefix)
                    .then(|| (key.to_owned(), size.value())))
            }
            None => Ok(None),
        }
    };
    let mut next_own = || own.next().filter(|(key, _)| key.starts_with(prefix));
    let (mut stored_item, mut own_item) = (next_stored()?, next_own());

    let mut bytes = 0u64;
    let mut last_key: Option<String> = None;
    loop {
        if request
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return Err(StoreError::DeadlinePassed);
        }
        // The next key in order, from the database or the run's changes (which replace what
        // the database holds under the same key).
        let own_first = match (&stored_item, own_item) {
            (None, None) => break,
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some((stored_key, _)), Some((own_key, _))) => own_key.as_str() <= stored_key.as_str(),
        };
        let visible = match own_item.filter(|_| own_first) {
            Some((key, change)) => {
                if stored_item
                    .as_ref()
                    .is_some_and(|(stored_key, _)| stored_key == key)
                {
                    stored_item = next_stored()?;
                }
                own_item = next_own();
                match change {
                    Change::Put { record, .. } => Visible::Own(key, record),
                    Change::Delete => continue,
                }
            }
            None => {
                let Some((key, size)) = std::mem::replace(&mut stored_item, next_stored()?) else {
                    break;
                };
                Visible::Stored(key, size)
            }
        };
        let (key, size) = match &visible {
            Visible::Stored(key, size) => (key.as_str(), *size),
            Visible::Own(key, record) => (key.as_str(), entry_bytes(key, record.len())),
        };
        let full = page.entries.len() >= request.limit
            || (!page.entries.is_empty() && bytes.saturating_add(size) > max_bytes);
        if full {
            page.next = last_key;
            return Ok(page);
        }
        if size > max_entry_bytes {
            page.skipped += 1;
        } else {
            let entry = match &visible {
                Visible::Stored(key, _) => match entries.get(key.as_str()).map_err(storage)? {
                    Some(record) => Some(decode(key, record.value())?),
                    None => None,
                },
                Visible::Own(key, record) => Some(decode(key, record)?),
            };
            if let Some(entry) = entry {
                bytes = bytes.saturating_add(size);
                page.entries.push(entry);
            }
        }
        last_key = Some(key.to_owned());
    }
    Ok(page)
}

/// An entry a listing goes through: from the database (key and size), or written by the run
/// (key and record).
enum Visible<'a> {
    Stored(String, u64),
    Own(&'a String, &'a Vec<u8>),
}
