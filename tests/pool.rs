//! The warm pool hands out ready kernels, each to one session only.

mod common;

use mcpr::hostcall::HostCalls;
use mcpr::pool::KernelPool;
use mcpr::sandbox::IsolationRequest;
use serde_json::json;
use std::time::{Duration, Instant};

async fn pooled_sessions_get_distinct_kernels_in_their_own_workspace(level: IsolationRequest) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("workspace");
    let pool = KernelPool::new(common::launcher(level), root.clone(), 2);
    pool.wait_full().await.unwrap();
    assert_eq!(pool.ready_count(), 2);

    // A session whose folder already holds files keeps them.
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::write(root.join("b/existing.txt"), "kept").unwrap();

    let mut pids = Vec::new();
    for name in ["a", "b", "c"] {
        let mut session = pool
            .session(HostCalls::with_builtins(), name.into(), root.join(name))
            .await
            .unwrap();
        let mut value = None;
        session
            .run_cell("import os\nopen('mine.txt', 'w').write('x')\n[os.getpid(), sorted(os.listdir('.')), globals().get('leak'), open('/proc/self/cgroup').read()]", &mut |e| {
                if let mcpr::event::Event::Value { json, .. } = e {
                    value = json;
                }
            })
            .await;
        let value = value.expect("value");
        session
            .run_cell("leak = 'from ' + 'session'", &mut |_| {})
            .await;
        assert!(root.join(name).join("mine.txt").is_file());
        let listed = value[1].clone();
        if name == "b" {
            assert_eq!(listed, json!(["existing.txt", "mine.txt"]));
        } else {
            assert_eq!(listed, json!(["mine.txt"]));
        }
        assert_eq!(value[2], json!(null), "no state from another session");
        // A container has no host pid, but a cgroup of its own.
        pids.push((
            session.kernel().unwrap().info().host_pid,
            value[3].as_str().unwrap().to_string(),
        ));
        session.close().await;
    }
    // Kernels (host pid, or container) are all different: none was reused.
    let mut host_pids = pids.clone();
    host_pids.sort();
    host_pids.dedup();
    assert_eq!(host_pids.len(), 3, "{pids:?}");
    // No pool folders are left behind once the pool is gone.
    drop(pool);
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".pool-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

async fn idle_pooled_kernels_are_reaped_and_the_pool_fills_again_on_demand(
    level: IsolationRequest,
) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("workspace");
    let idle = Duration::from_secs(3);
    let pool = KernelPool::with_idle(common::launcher(level), root.clone(), 1, Some(idle));
    pool.wait_full().await.unwrap();
    let pooled = || {
        std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".pool-"))
            .count()
    };
    assert_eq!((pool.ready_count(), pooled()), (1, 1));
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.ready_count() > 0 || pooled() > 0 {
        assert!(Instant::now() < deadline, "the idle kernel was not reaped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Asking for a session starts a cold one and refills the pool behind it.
    let mut session = pool
        .session(HostCalls::with_builtins(), "a".into(), root.join("a"))
        .await
        .unwrap();
    let mut value = None;
    session
        .run_cell("6 * 7", &mut |e| {
            if let mcpr::event::Event::Value { json, .. } = e {
                value = json;
            }
        })
        .await;
    assert_eq!(value, Some(json!(42)));
    pool.wait_full().await.unwrap();
    assert_eq!(pool.ready_count(), 1);
    session.close().await;
}

on_each_backend! {
    pooled_sessions_get_distinct_kernels_in_their_own_workspace(Auto),
    idle_pooled_kernels_are_reaped_and_the_pool_fills_again_on_demand(Auto),
}
