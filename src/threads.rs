//! Independent pieces of work run on threads, with their results in a fixed order: a plan and
//! its verification do each ABI on a thread of its own, so that what they produce never depends
//! on which thread finished first. This module knows nothing about what the work is.

/// `work` applied to every item, the first on this thread and each other on a thread of its own;
/// the results in the items' order. A panic in any of them is resumed here.
pub fn map_in_order<T, R, F>(items: &[T], work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let Some((first, others)) = items.split_first() else { return Vec::new() };
    std::thread::scope(|scope| {
        let work = &work;
        let others: Vec<_> = others.iter().map(|item| scope.spawn(move || work(item))).collect();
        let mut results = vec![work(first)];
        for other in others {
            results.push(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_items_order() {
        let items: Vec<u64> = (1..=5).collect();
        let slow_first = map_in_order(&items, |&n| {
            std::thread::sleep(std::time::Duration::from_millis(10 * (5 - n)));
            n * n
        });
        assert_eq!(slow_first, vec![1, 4, 9, 16, 25]);
        assert!(map_in_order(&Vec::<u64>::new(), |&n| n).is_empty());
    }

    #[test]
    #[should_panic(expected = "item 3")]
    fn a_panic_on_another_thread_reaches_the_caller() {
        map_in_order(&[1, 2, 3], |&n| if n == 3 { panic!("item {n}") } else { n });
    }
}
