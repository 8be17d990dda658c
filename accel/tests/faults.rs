//! Every injected fault ends in the documented behaviour: the beat is recomputed on the CPU
//! (same bits, no beat lost), the fault is counted, the device is reset, and after repeated
//! faults the backend stays on the CPU until a retry.

mod common;

use common::*;
use rhythm::engine::Backend;
use rhythm_accel::driver::DriverError;
use rhythm_accel::spec::ErrorCode;
use rhythm_accel::{AccelConfig, DeviceState, Fault, SimConfig};
use std::time::Duration;

fn run_golden(b: &mut rhythm_accel::AccelBackend, n: usize) {
    let mut l = [0f32; 5];
    for (k, (image, side, want)) in golden().iter().cycle().take(n).enumerate() {
        b.infer(image, side, &mut l).unwrap();
        assert_eq!(b.int8_logits().unwrap(), &want[..], "beat {k}");
    }
}

fn fast(policy: AccelConfig) -> (rhythm_accel::Sim, rhythm_accel::AccelBackend) {
    let (sim, mut b) = accel(shipped_model(), SimConfig::default(), policy);
    // Long enough that scheduling noise is never a timeout, short enough for hang tests.
    b.device_mut().set_timeout(Duration::from_millis(300));
    (sim, b)
}

#[test]
fn each_fault_is_recomputed_on_cpu_counted_and_recovered() {
    let (sim, mut b) = fast(AccelConfig::default());
    run_golden(&mut b, 2);
    type Counter = fn(&rhythm_accel::FaultStats) -> u64;
    let cases: [(Fault, Counter); 3] = [
        (Fault::Hang, |s| s.timeouts),
        (Fault::Error(ErrorCode::Internal), |s| s.device_errors),
        (Fault::CorruptOutput, |s| s.corrupt_outputs),
    ];
    for (fault, counter) in cases {
        let before = b.fault_stats().clone();
        sim.inject(fault);
        run_golden(&mut b, 3); // the faulty beat and two healthy ones, all correct
        let s = b.fault_stats();
        assert_eq!(s.faults, before.faults + 1, "{fault:?}");
        assert_eq!(counter(s), counter(&before) + 1, "{fault:?}: {s:?}");
        assert_eq!(
            s.resets,
            before.resets + 1,
            "{fault:?}: reset after the fault"
        );
        assert_eq!(s.cpu_beats, before.cpu_beats + 1);
        assert_eq!(
            s.device_beats,
            before.device_beats + 2,
            "{fault:?}: device used again"
        );
        assert_eq!(s.state, DeviceState::Healthy);
        assert_eq!(s.consecutive, 0);
        assert!(s.last_fault.is_some());
    }
    assert_eq!(b.fault_stats().beats, 2 + 9);
}

#[test]
fn slow_completion_within_timeout_is_not_a_fault_and_beyond_is() {
    let (sim, mut b) = fast(AccelConfig::default());
    sim.inject(Fault::Slow(Duration::from_millis(10)));
    run_golden(&mut b, 1);
    assert_eq!(b.fault_stats().faults, 0);
    assert_eq!(b.fault_stats().device_beats, 1);
    // Slower than the 300 ms timeout: the beat goes to the CPU, the late job is reset away
    // and cannot write into the next beat's buffers.
    sim.inject(Fault::Slow(Duration::from_millis(1500)));
    run_golden(&mut b, 4);
    let s = b.fault_stats();
    assert_eq!((s.faults, s.timeouts, s.device_beats), (1, 1, 4), "{s:?}");
    std::thread::sleep(Duration::from_millis(100));
    run_golden(&mut b, 2);
    assert_eq!(b.fault_stats().faults, 1);
}

#[test]
fn repeated_faults_disable_the_device_until_retry() {
    let policy = AccelConfig {
        max_consecutive_faults: 3,
        retry_after_beats: 5,
        ..AccelConfig::default()
    };
    let (sim, mut b) = fast(policy);
    sim.set_persistent(Some(Fault::Error(ErrorCode::Internal)));
    run_golden(&mut b, 3);
    let s = b.fault_stats().clone();
    assert_eq!(s.faults, 3);
    assert_eq!(s.state, DeviceState::Disabled { until: 3 + 5 });
    let jobs = sim.jobs();
    // While disabled the device is not touched; every beat is still correct.
    run_golden(&mut b, 4);
    assert_eq!(sim.jobs(), jobs);
    assert_eq!(b.fault_stats().cpu_beats, 7);
    // Fixed: the retry at beat 8 resets the device and uses it again.
    sim.set_persistent(None);
    run_golden(&mut b, 3);
    let s = b.fault_stats();
    assert_eq!(s.state, DeviceState::Healthy);
    assert_eq!(s.device_beats, 3, "{s:?}"); // beats 8, 9, 10
    assert!(sim.jobs() > jobs);
}

#[test]
fn vanished_device_falls_back_for_good_and_handles_return_errors() {
    let (sim, mut b) = fast(AccelConfig::default());
    run_golden(&mut b, 1);
    sim.inject(Fault::Vanish);
    run_golden(&mut b, 3);
    let s = b.fault_stats();
    assert_eq!((s.gone, s.state), (1, DeviceState::Gone), "{s:?}");
    assert_eq!(s.cpu_beats, 3);
    let dev = b.device_mut();
    assert!(dev.is_gone());
    assert!(matches!(dev.reset(), Err(DriverError::Gone)));
    assert!(matches!(dev.perf(), Err(DriverError::Gone)));
    assert!(matches!(dev.alloc(64), Err(DriverError::Gone)));
    assert!(matches!(dev.run(&[], &[]), Err(DriverError::Gone)));
    // And it cannot be found again.
    let again = rhythm_accel::Device::open(sim.device_config().unwrap());
    assert!(again.is_err());
}

#[test]
fn vanishing_while_idle_is_detected_on_next_use() {
    let (sim, mut dev) = sim_and_device(SimConfig::default());
    sim.vanish();
    let node = sim.paths().class_root.join("uio0");
    for _ in 0..200 {
        if !node.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!node.exists(), "simulator did not vanish");
    let buf = dev.alloc(64).unwrap();
    let d = rhythm_accel::spec::Descriptor {
        opcode: rhythm_accel::spec::Opcode::Rescale as u8,
        in_shape: [1, 1, 32],
        out_shape: [1, 1, 32],
        in0: buf.bus,
        out: buf.bus + 4096,
        mult0: 1.0f32.to_bits() as i32,
        shift0: 0,
        p0: 32,
        p1: 32,
        act_min: -128,
        act_max: 127,
        ..Default::default()
    };
    let _ = dev.alloc(8192).unwrap();
    let e = dev.run(&[d], &[]).unwrap_err();
    assert!(matches!(e, DriverError::Gone), "{e}");
    assert!(dev.is_gone());
}

#[test]
fn wedged_device_failing_reset_stays_on_cpu_until_retry_succeeds() {
    let policy = AccelConfig {
        max_consecutive_faults: 3,
        retry_after_beats: 4,
        ..AccelConfig::default()
    };
    let (sim, mut b) = fast(policy);
    sim.set_persistent(Some(Fault::Wedged));
    run_golden(&mut b, 2);
    let s = b.fault_stats().clone();
    assert_eq!((s.faults, s.timeouts, s.reset_failures), (1, 1, 1), "{s:?}");
    assert_eq!(s.state, DeviceState::Disabled { until: 1 + 4 });
    assert_eq!(s.cpu_beats, 2);
    sim.set_persistent(None);
    run_golden(&mut b, 4); // beats 3, 4 on the CPU; beat 5 retries and succeeds
    let s = b.fault_stats();
    assert_eq!(s.state, DeviceState::Healthy, "{s:?}");
    assert_eq!(s.device_beats, 2);
    assert_eq!(s.cpu_beats, 4);
}

#[test]
fn datapath_corruption_is_caught_only_by_the_cpu_spot_check() {
    // Without spot checks a wrong value computed before the CRC goes through: the limit of
    // what the device's own checks can see (documented in docs/accel.md §7).
    let (sim, mut b) = fast(AccelConfig {
        spot_check_every: 0,
        ..AccelConfig::default()
    });
    sim.inject(Fault::CorruptCompute);
    let (image, side, want) = golden().swap_remove(0);
    let mut l = [0f32; 5];
    b.infer(&image, &side, &mut l).unwrap();
    assert_ne!(b.int8_logits().unwrap(), &want[..]);
    assert_eq!(b.fault_stats().faults, 0);
    // With a spot check on every beat it is a fault, and the CPU result is returned.
    let (sim, mut b) = fast(AccelConfig {
        spot_check_every: 1,
        ..AccelConfig::default()
    });
    run_golden(&mut b, 1);
    sim.inject(Fault::CorruptCompute);
    run_golden(&mut b, 2);
    let s = b.fault_stats();
    assert_eq!((s.faults, s.mismatches, s.spot_checks), (1, 1, 3), "{s:?}");
    assert_eq!((s.device_beats, s.cpu_beats, s.resets), (2, 1, 1));
}
