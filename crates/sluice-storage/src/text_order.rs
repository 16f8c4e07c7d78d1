//! Ordering strings by their bytes without comparing them through a pointer each.

/// How deep [`sort_by_text`] goes: texts alike in their first 128 bytes are compared
/// whole.
const MAX_TEXT_SORT_DEPTH: usize = 16;

/// Sorts string ids (the `u32`; the `u64` is scratch) by their text (`text` gives it),
/// eight bytes at a time: each entry's key is set to the next eight bytes of its text
/// (big-endian, zero-padded), the entries are sorted by that integer, and each run of
/// equal keys is sorted by the eight bytes after. Ordering a million host names (a
/// partition's strings, a merge's dictionaries) so compares integers, not texts through
/// a pointer each. Entries of equal texts are left with equal keys (they go through the
/// same runs to the same depth), so only neighbours with equal keys can be equal texts.
pub(crate) fn sort_by_text<'a>(ids: &mut [(u64, u32)], text: &impl Fn(u32) -> &'a [u8]) {
    sort_from(ids, 0, text);
}

/// [`sort_by_text`] from byte `8 * depth` of texts equal before it.
fn sort_from<'a>(ids: &mut [(u64, u32)], depth: usize, text: &impl Fn(u32) -> &'a [u8]) {
    let from = depth * 8;
    for entry in ids.iter_mut() {
        let bytes = text(entry.1);
        let mut chunk = [0u8; 8];
        if from < bytes.len() {
            let n = (bytes.len() - from).min(8);
            chunk[..n].copy_from_slice(&bytes[from..from + n]);
        }
        entry.0 = u64::from_be_bytes(chunk);
    }
    ids.sort_unstable_by_key(|&(key, _)| key);
    let mut start = 0;
    while start < ids.len() {
        let key = ids[start].0;
        let end = start + ids[start..].iter().take_while(|e| e.0 == key).count();
        let run = &mut ids[start..end];
        if run.len() > 1 {
            let ended = run.iter().all(|&(_, id)| text(id).len() <= from + 8);
            if ended || depth + 1 == MAX_TEXT_SORT_DEPTH {
                // Texts that end here and agree up to their zero padding ("a", "a\0"),
                // or share a prefix longer than is worth going on eight bytes at a time
                // (and deeper than the stack should go): ordered by text.
                run.sort_unstable_by(|a, b| text(a.1).cmp(text(b.1)));
            } else {
                sort_from(run, depth + 1, text);
            }
        }
        start = end;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_sort_by_text_eight_bytes_at_a_time() {
        let mut texts: Vec<String> = vec![
            String::new(),
            "a".into(),
            "a\0".into(),
            "a\0\0".into(),
            "host_1".into(),
            "host_10".into(),
            "host_123456789012345678".into(),
            "host_123456789012345677".into(),
            "host_12345678".into(),
            "host_1234567".into(),
            "é".into(),
            "z".into(),
            // Alike past the depth where the sort compares whole texts.
            format!("{}b", "x".repeat(300)),
            format!("{}a", "x".repeat(300)),
            format!("{}a", "x".repeat(130)),
            "x".repeat(200),
        ];
        // Texts over a small alphabet share long prefixes, as host names do.
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        for _ in 0..2000 {
            let len = next() % 30;
            texts.push(
                (0..len)
                    .map(|_| b"host_01"[(next() % 7) as usize] as char)
                    .collect(),
            );
        }
        texts.sort();
        texts.dedup();
        let mut ids: Vec<(u64, u32)> = (0..texts.len() as u32).rev().map(|id| (0, id)).collect();
        super::sort_by_text(&mut ids, &|id| texts[id as usize].as_bytes());
        let order: Vec<u32> = ids.iter().map(|&(_, id)| id).collect();
        assert_eq!(order, (0..texts.len() as u32).collect::<Vec<_>>());

        // Every text twice: the two copies come together with one key.
        let twice: Vec<&str> = texts.iter().chain(&texts).map(String::as_str).collect();
        let mut ids: Vec<(u64, u32)> = (0..twice.len() as u32).map(|id| (0, id)).collect();
        super::sort_by_text(&mut ids, &|id| twice[id as usize].as_bytes());
        for pair in ids.chunks_exact(2) {
            let [(key, a), (other_key, b)] = pair else {
                unreachable!()
            };
            assert_eq!((twice[*a as usize], key), (twice[*b as usize], other_key));
        }
    }
}
