//! Independent pieces of work run on threads, with their results in a fixed order: a plan and
//! its verification do each ABI on a thread of its own, so that what they produce never depends
//! on which thread finished first. This module knows nothing about what the work is.
//!
//! A new thread must also start at once, on another CPU, or it is no help: a plan lasts a few
//! milliseconds, and Linux queues a new thread on the CPU of the thread that started it, where it
//! may wait until that one blocks. Measured on a 2-vCPU KVM guest, a thread started in the middle
//! of 2 ms of work ran on the same CPU, after the starter, in 9 runs out of 10. So the starter
//! steps aside to another CPU it is allowed on ([`spawn`]), and the new thread runs where it was
//! queued; the starter's CPU set is restored straight away, so nothing stays pinned.

use std::thread::{Scope, ScopedJoinHandle};

use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::unistd::Pid;

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
        if !others.is_empty() {
            step_aside();
        }
        let mut results = vec![work(first)];
        for other in others {
            results.push(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        results
    })
}

/// Starts `work` on a new thread of `scope`, which runs at once on the CPU this thread leaves.
pub fn spawn<'scope, R, F>(scope: &'scope Scope<'scope, '_>, work: F) -> ScopedJoinHandle<'scope, R>
where
    R: Send + 'scope,
    F: FnOnce() -> R + Send + 'scope,
{
    let handle = scope.spawn(work);
    step_aside();
    handle
}

/// Moves the calling thread to another CPU of its allowed set, if it has another, leaving the
/// allowed set as it was. Does nothing where the set cannot be read or changed.
fn step_aside() {
    let this = Pid::from_raw(0);
    let (Ok(allowed), Ok(here)) = (sched_getaffinity(this), sched_getcpu()) else { return };
    let mut elsewhere = allowed;
    if elsewhere.unset(here).is_err() || !(0..CpuSet::count()).any(|cpu| elsewhere.is_set(cpu) == Ok(true)) {
        return;
    }
    if sched_setaffinity(this, &elsewhere).is_ok() {
        let _ = sched_setaffinity(this, &allowed);
    }
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
    fn spawn_runs_the_work_and_leaves_the_allowed_cpus_as_they_were() {
        let before = sched_getaffinity(Pid::from_raw(0)).unwrap();
        let answer = std::thread::scope(|scope| spawn(scope, || 6 * 7).join().unwrap());
        assert_eq!(answer, 42);
        assert_eq!(sched_getaffinity(Pid::from_raw(0)).unwrap(), before);
    }

    #[test]
    #[should_panic(expected = "item 3")]
    fn a_panic_on_another_thread_reaches_the_caller() {
        map_in_order(&[1, 2, 3], |&n| if n == 3 { panic!("item {n}") } else { n });
    }
}
