//! The warm pool hands out ready kernels, each to one session only.

mod common;

use mcpr::hostcall::HostCalls;
use mcpr::pool::KernelPool;
use mcpr::sandbox::IsolationRequest::Auto;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_sessions_get_distinct_kernels_in_their_own_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("workspace");
    let pool = KernelPool::new(common::launcher(Auto), root.clone(), 2);
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
            .run_cell("import os\nopen('mine.txt', 'w').write('x')\n[os.getpid(), sorted(os.listdir('.')), globals().get('leak')]", &mut |e| {
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
        pids.push((
            session.kernel().unwrap().info().host_pid.unwrap(),
            value[0].clone(),
        ));
        session.close().await;
    }
    // Kernel pids (host view) are all different: none was reused.
    let mut host_pids: Vec<u32> = pids.iter().map(|p| p.0).collect();
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
